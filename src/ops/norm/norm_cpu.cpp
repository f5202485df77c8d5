// CPU references of the RMS-norm family: one call per block, the block being one row. The sum of
// squares is accumulated in double, so the reference is at least as accurate as the CUDA kernels'
// f32 tree reduction. Aliasing is allowed where the CUDA kernels allow it (y may be x, sum may be
// a or b): every element is read before it is written, in both passes.

#include <cmath>
#include <cstdint>

#include "ops/norm/norm.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

struct NormArgs {
  std::size_t a = 0;    // x, or the first addend
  std::size_t b = 0;    // second addend (add variants)
  std::size_t w = 0;    // weight (mul variants)
  std::size_t sum = 0;  // sum output (add variants)
  std::size_t y = 0;    // normalised output
  std::size_t n = 0;    // value u32
  std::size_t eps = 0;  // value f32
};

template <bool kAdd, bool kMul>
void norm_row(const CpuKernelContext& ctx, const NormArgs& idx, const char* kernel) {
  const auto n = ctx.value<std::uint32_t>(idx.n);
  const auto eps = ctx.value<float>(idx.eps);
  const std::uint64_t row = ctx.block_index().x;
  const std::uint64_t end_bytes = (row + 1) * n * sizeof(float);
  check_arg_bytes(ctx, idx.a, end_bytes, kernel);
  check_arg_bytes(ctx, idx.y, end_bytes, kernel);
  const float* a = ctx.ptr<float>(idx.a) + row * n;
  float* y = ctx.ptr<float>(idx.y) + row * n;
  const float* b = nullptr;
  float* sum = nullptr;
  const float* w = nullptr;
  if constexpr (kAdd) {
    check_arg_bytes(ctx, idx.b, end_bytes, kernel);
    check_arg_bytes(ctx, idx.sum, end_bytes, kernel);
    b = ctx.ptr<float>(idx.b) + row * n;
    sum = ctx.ptr<float>(idx.sum) + row * n;
  }
  if constexpr (kMul) {
    check_arg_bytes(ctx, idx.w, end_bytes, kernel);
    w = ctx.ptr<float>(idx.w) + row * n;
  }

  double squares = 0.0;
  for (std::uint32_t i = 0; i < n; ++i) {
    float v = a[i];
    if constexpr (kAdd) {
      v += b[i];
      sum[i] = v;
    }
    squares += static_cast<double>(v) * v;
  }
  const auto scale = static_cast<float>(1.0 / std::sqrt(squares / n + static_cast<double>(eps)));
  for (std::uint32_t i = 0; i < n; ++i) {
    float v = kAdd ? sum[i] : a[i];
    v *= scale;
    if constexpr (kMul) v *= w[i];
    y[i] = v;
  }
}

}  // namespace

void rms_norm_cpu(const CpuKernelContext& ctx) {
  norm_row<false, false>(ctx, {.a = 0, .y = 1, .n = 2, .eps = 3}, "rms_norm_f32");
}

void rms_norm_mul_cpu(const CpuKernelContext& ctx) {
  norm_row<false, true>(ctx, {.a = 0, .w = 1, .y = 2, .n = 3, .eps = 4}, "rms_norm_mul_f32");
}

void add_rms_norm_cpu(const CpuKernelContext& ctx) {
  norm_row<true, false>(ctx, {.a = 0, .b = 1, .sum = 2, .y = 3, .n = 4, .eps = 5},
                        "add_rms_norm_f32");
}

void add_rms_norm_mul_cpu(const CpuKernelContext& ctx) {
  norm_row<true, true>(ctx, {.a = 0, .b = 1, .w = 2, .sum = 3, .y = 4, .n = 5, .eps = 6},
                       "add_rms_norm_mul_f32");
}

}  // namespace encore::ops::detail
