#include "support/portable_kernels.h"

#include <cstdint>
#include <string>

#include "encore/error.h"

#include "support/portable_kernels_cuda.h"

namespace encore::testing {

namespace {

static_assert(kBigValueBytes == kMaxValueBytes, "big_value takes the largest legal value");

// Calls f(i) for every global thread index i < n of the current block (x axis).
template <class F>
void for_each_thread(const CpuKernelContext& ctx, std::uint32_t n, F&& f) {
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  for (std::uint32_t t = 0; t < ctx.block().x; ++t) {
    const std::uint64_t i = first + t;
    if (i < n) f(static_cast<std::size_t>(i));
  }
}

// Buffer arg `arg` as `count` uint32 elements; throws KernelFailed when the view is smaller.
std::uint32_t* elements(const CpuKernelContext& ctx, std::size_t arg, std::uint32_t count,
                        const char* kernel) {
  const std::uint64_t have = ctx.size(arg) / sizeof(std::uint32_t);
  if (count > have) {
    throw Error(ErrorCode::KernelFailed, std::string(kernel) + ": count " + std::to_string(count) +
                                             " exceeds arg " + std::to_string(arg) + "'s view of " +
                                             std::to_string(have) + " elements");
  }
  return ctx.ptr<std::uint32_t>(arg);
}

void fill_u32(const CpuKernelContext& ctx) {
  const auto v = ctx.value<std::uint32_t>(1);
  const auto n = ctx.value<std::uint32_t>(2);
  std::uint32_t* dst = elements(ctx, 0, n, "fill_u32");
  for_each_thread(ctx, n, [&](std::size_t i) { dst[i] = v + static_cast<std::uint32_t>(i); });
}

// In ascending element order, each element reading src before writing dst: what the CUDA
// version reproduces when the views overlap (see portable_kernels.h).
void mix_u32(const CpuKernelContext& ctx) {
  const auto salt = ctx.value<std::uint32_t>(2);
  const auto src_n = ctx.value<std::uint32_t>(3);
  const auto n = ctx.value<std::uint32_t>(4);
  const std::uint32_t* src = elements(ctx, 0, src_n, "mix_u32");
  std::uint32_t* dst = elements(ctx, 1, n, "mix_u32");
  for_each_thread(ctx, n, [&](std::size_t i) {
    const std::uint32_t s = src_n == 0 ? 0U : src[i % src_n];
    dst[i] = dst[i] * 31U + (s ^ salt);
  });
}

void log_order(const CpuKernelContext& ctx) {
  auto* log = ctx.ptr<std::uint32_t>(0);
  log[1 + log[0]] = ctx.value<std::uint32_t>(1);
  ++log[0];
}

void two_values(const CpuKernelContext& ctx) {
  (void)ctx.value<std::uint32_t>(0);
  (void)ctx.value<std::uint64_t>(1);
}

}  // namespace

void register_portable_kernels(KernelRegistry& registry) {
  const PortableCudaKernels cuda = portable_cuda_kernels();
  registry.add({.name = "fill_u32",
                .params = {Param::out("dst"), Param::value<std::uint32_t>("v"),
                           Param::value<std::uint32_t>("n")},
                .cpu = fill_u32,
                .cuda = cuda.fill_u32});
  registry.add(
      {.name = "mix_u32",
       .params = {Param::in("src"), Param::inout("dst"), Param::value<std::uint32_t>("salt"),
                  Param::value<std::uint32_t>("src_n"), Param::value<std::uint32_t>("n")},
       .cpu = mix_u32,
       .cuda = cuda.mix_u32});
  registry.add({.name = "log_order",
                .params = {Param::inout("log"), Param::value<std::uint32_t>("id")},
                .cpu = log_order,
                .cuda = cuda.log_order});
  registry.add({.name = "big_value",
                .params = {{"v", Param::Kind::Value, Access::In, kMaxValueBytes}},
                .cpu = [](const CpuKernelContext&) {},
                .cuda = cuda.big_value});
  registry.add(
      {.name = "two_values",
       .params = {Param::value<std::uint32_t>("narrow"), Param::value<std::uint64_t>("wide")},
       .cpu = two_values,
       .cuda = cuda.two_values});
}

}  // namespace encore::testing
