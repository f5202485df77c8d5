#include "kernels/basic_kernels.h"

#include <cstdint>
#include <string>

#include "encore/error.h"

#include "kernels/basic_kernels_cuda.h"

namespace encore::kernels {

namespace {

// Calls f(i) for every global thread index i < n of the current block (x axis).
template <class F>
void for_each_thread(const CpuKernelContext& ctx, std::uint32_t n, F&& f) {
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  for (std::uint32_t t = 0; t < ctx.block().x; ++t) {
    const std::uint64_t i = first + t;
    if (i < n) f(static_cast<std::size_t>(i));
  }
}

void fill_f32(const CpuKernelContext& ctx) {
  float* y = ctx.ptr<float>(0);
  const auto v = ctx.value<float>(1);
  for_each_thread(ctx, ctx.value<std::uint32_t>(2), [&](std::size_t i) { y[i] = v; });
}

void copy_f32(const CpuKernelContext& ctx) {
  const float* x = ctx.ptr<float>(0);
  float* y = ctx.ptr<float>(1);
  for_each_thread(ctx, ctx.value<std::uint32_t>(2), [&](std::size_t i) { y[i] = x[i]; });
}

void add_f32(const CpuKernelContext& ctx) {
  const float* a = ctx.ptr<float>(0);
  const float* b = ctx.ptr<float>(1);
  float* c = ctx.ptr<float>(2);
  for_each_thread(ctx, ctx.value<std::uint32_t>(3), [&](std::size_t i) { c[i] = a[i] + b[i]; });
}

void mul_f32(const CpuKernelContext& ctx) {
  const float* a = ctx.ptr<float>(0);
  const float* b = ctx.ptr<float>(1);
  float* c = ctx.ptr<float>(2);
  for_each_thread(ctx, ctx.value<std::uint32_t>(3), [&](std::size_t i) { c[i] = a[i] * b[i]; });
}

void scale_f32(const CpuKernelContext& ctx) {
  const float* x = ctx.ptr<float>(0);
  float* y = ctx.ptr<float>(1);
  const auto alpha = ctx.value<float>(2);
  for_each_thread(ctx, ctx.value<std::uint32_t>(3), [&](std::size_t i) { y[i] = alpha * x[i]; });
}

// Grid-stride partial sums: thread t of block b sums x[b*T + t], x[b*T + t + G*T], ...; the block
// then reduces its T per-thread sums in shared memory, as the CUDA version does.
void sum_f32(const CpuKernelContext& ctx) {
  const float* x = ctx.ptr<float>(0);
  float* partial = ctx.ptr<float>(1);
  const auto n = ctx.value<std::uint32_t>(2);
  const std::uint32_t threads = ctx.block().x;
  if (ctx.shared().size() < std::size_t{threads} * sizeof(float)) {
    throw Error(ErrorCode::KernelFailed,
                "sum_f32 needs blockDim.x * 4 = " + std::to_string(threads * sizeof(float)) +
                    " bytes of shared memory, got " + std::to_string(ctx.shared().size()));
  }
  auto* sums = reinterpret_cast<float*>(ctx.shared().data());
  const std::uint64_t stride = std::uint64_t{ctx.grid().x} * threads;
  for (std::uint32_t t = 0; t < threads; ++t) {
    float s = 0.0F;
    for (std::uint64_t i = std::uint64_t{ctx.block_index().x} * threads + t; i < n; i += stride) {
      s += x[i];
    }
    sums[t] = s;
  }
  for (std::uint32_t width = 1; width < threads; width *= 2) {  // tree reduction
    for (std::uint32_t t = 0; t + width < threads; t += 2 * width) sums[t] += sums[t + width];
  }
  partial[ctx.block_index().x] = sums[0];
}

}  // namespace

void register_basic_kernels(KernelRegistry& registry) {
  const BasicCudaKernels cuda = basic_cuda_kernels();
  registry.add(
      {.name = "fill_f32",
       .params = {Param::out("y"), Param::value<float>("v"), Param::value<std::uint32_t>("n")},
       .op = OpKind::Fill,
       .cpu = fill_f32,
       .cuda = cuda.fill_f32});
  registry.add({.name = "copy_f32",
                .params = {Param::in("x"), Param::out("y"), Param::value<std::uint32_t>("n")},
                .op = OpKind::Copy,
                .cpu = copy_f32,
                .cuda = cuda.copy_f32});
  registry.add({.name = "add_f32",
                .params = {Param::in("a"), Param::in("b"), Param::out("c"),
                           Param::value<std::uint32_t>("n")},
                .op = OpKind::ElemAdd,
                .cpu = add_f32,
                .cuda = cuda.add_f32});
  registry.add({.name = "mul_f32",
                .params = {Param::in("a"), Param::in("b"), Param::out("c"),
                           Param::value<std::uint32_t>("n")},
                .op = OpKind::ElemMul,
                .cpu = mul_f32,
                .cuda = cuda.mul_f32});
  registry.add({.name = "scale_f32",
                .params = {Param::in("x"), Param::out("y"), Param::value<float>("alpha"),
                           Param::value<std::uint32_t>("n")},
                .op = OpKind::ElemScale,
                .cpu = scale_f32,
                .cuda = cuda.scale_f32});
  registry.add({.name = "sum_f32",
                .params = {Param::in("x"), Param::out("partial"), Param::value<std::uint32_t>("n")},
                .op = OpKind::Reduce,
                .cpu = sum_f32,
                .cuda = cuda.sum_f32});
}

}  // namespace encore::kernels
