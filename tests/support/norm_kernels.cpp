#include "support/norm_kernels.h"

#include <cmath>
#include <cstdint>

#include "encore/error.h"

#include "support/test_support.h"

namespace encore::testing {

namespace {

// The row this block handles, checked against the views (kernels trust nothing in tests).
struct Row {
  std::uint64_t first = 0;
  std::uint32_t n = 0;
};

Row row_of(const CpuKernelContext& ctx, std::size_t n_arg,
           std::initializer_list<std::size_t> views) {
  const auto n = ctx.value<std::uint32_t>(n_arg);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * n;
  for (std::size_t v : views) {
    if (ctx.size(v) < (first + n) * sizeof(float)) {
      throw Error(ErrorCode::KernelFailed, "row past the end of arg " + std::to_string(v));
    }
  }
  return {first, n};
}

// 1 / sqrt(mean(v^2) + eps), summed in index order: the one formula every kernel here uses.
float row_scale(const float* v, std::uint32_t n, float eps) {
  float squares = 0.0F;
  for (std::uint32_t i = 0; i < n; ++i) squares += v[i] * v[i];
  return 1.0F / std::sqrt(squares / static_cast<float>(n) + eps);
}

void rms_norm(const CpuKernelContext& ctx) {
  const Row r = row_of(ctx, 2, {0, 1});
  const float* x = ctx.ptr<float>(0) + r.first;
  float* y = ctx.ptr<float>(1) + r.first;
  const float scale = row_scale(x, r.n, ctx.value<float>(3));
  for (std::uint32_t i = 0; i < r.n; ++i) y[i] = x[i] * scale;
}

void rms_norm_mul(const CpuKernelContext& ctx) {
  const Row r = row_of(ctx, 3, {0, 1, 2});
  const float* x = ctx.ptr<float>(0) + r.first;
  const float* w = ctx.ptr<float>(1) + r.first;
  float* y = ctx.ptr<float>(2) + r.first;
  const float scale = row_scale(x, r.n, ctx.value<float>(4));
  for (std::uint32_t i = 0; i < r.n; ++i) y[i] = (x[i] * scale) * w[i];
}

// sum = a + b, then y = rms_norm(sum) (times w when `w_arg` is given).
void add_rms_norm_row(const CpuKernelContext& ctx, int w_arg, std::size_t sum_arg) {
  const std::size_t n_arg = sum_arg + 2;
  const Row r = row_of(ctx, n_arg, {0, 1, sum_arg, sum_arg + 1});
  const float* a = ctx.ptr<float>(0) + r.first;
  const float* b = ctx.ptr<float>(1) + r.first;
  float* sum = ctx.ptr<float>(sum_arg) + r.first;
  float* y = ctx.ptr<float>(sum_arg + 1) + r.first;
  for (std::uint32_t i = 0; i < r.n; ++i) sum[i] = a[i] + b[i];
  const float scale = row_scale(sum, r.n, ctx.value<float>(n_arg + 1));
  if (w_arg < 0) {
    for (std::uint32_t i = 0; i < r.n; ++i) y[i] = sum[i] * scale;
    return;
  }
  const float* w = ctx.ptr<float>(static_cast<std::size_t>(w_arg)) + r.first;
  for (std::uint32_t i = 0; i < r.n; ++i) y[i] = (sum[i] * scale) * w[i];
}

void mul_other_dtype(const CpuKernelContext& ctx) {
  const auto n = ctx.value<std::uint32_t>(3);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  for (std::uint32_t t = 0; t < ctx.block().x; ++t) {
    if (first + t < n) {
      ctx.ptr<float>(2)[first + t] = ctx.ptr<float>(0)[first + t] * ctx.ptr<float>(1)[first + t];
    }
  }
}

void add_if_missing(KernelRegistry& registry, KernelDef def) {
  if (registry.find(def.name) == nullptr) registry.add(std::move(def));
}

}  // namespace

void add_norm_kernels(KernelRegistry& registry) {
  const auto n = Param::value<std::uint32_t>("n");
  const auto eps = Param::value<float>("eps");
  add_if_missing(registry, {.name = "rms_norm_f32",
                            .params = {Param::in("x"), Param::out("y"), n, eps},
                            .op = OpKind::RmsNorm,
                            .cpu = rms_norm});
  add_if_missing(registry, {.name = "rms_norm_mul_f32",
                            .params = {Param::in("x"), Param::in("w"), Param::out("y"), n, eps},
                            .op = OpKind::RmsNormMul,
                            .cpu = rms_norm_mul});
  add_if_missing(
      registry,
      {.name = "add_rms_norm_f32",
       .params = {Param::in("a"), Param::in("b"), Param::out("sum"), Param::out("y"), n, eps},
       .op = OpKind::AddRmsNorm,
       .cpu = [](const CpuKernelContext& ctx) { add_rms_norm_row(ctx, -1, 2); }});
  add_if_missing(registry,
                 {.name = "add_rms_norm_mul_f32",
                  .params = {Param::in("a"), Param::in("b"), Param::in("w"), Param::out("sum"),
                             Param::out("y"), n, eps},
                  .op = OpKind::AddRmsNorm,
                  .cpu = [](const CpuKernelContext& ctx) { add_rms_norm_row(ctx, 2, 3); }});
  add_if_missing(registry, {.name = "mul_bf16",
                            .params = {Param::in("a"), Param::in("b"), Param::out("c"), n},
                            .op = OpKind::ElemMul,
                            .cpu = mul_other_dtype});
}

std::shared_ptr<KernelRegistry> make_norm_registry() {
  auto registry = make_portable_registry();
  add_norm_kernels(*registry);
  return registry;
}

}  // namespace encore::testing
