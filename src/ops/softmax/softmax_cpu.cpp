// CPU reference of softmax_f32: one row per block; the sum is accumulated in double.

#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/op_common.h"
#include "ops/softmax/softmax.h"

namespace encore::ops::detail {

void softmax_cpu(const CpuKernelContext& ctx) {
  const auto n = ctx.value<std::uint32_t>(2);
  const std::uint64_t row = ctx.block_index().x;
  check_arg_bytes(ctx, 0, (row + 1) * n * sizeof(float), "softmax_f32");
  check_arg_bytes(ctx, 1, (row + 1) * n * sizeof(float), "softmax_f32");
  const float* x = ctx.ptr<const float>(0) + row * n;
  float* y = ctx.ptr<float>(1) + row * n;
  float m = -std::numeric_limits<float>::infinity();
  for (std::uint32_t i = 0; i < n; ++i) m = std::fmax(m, x[i]);
  double sum = 0.0;
  for (std::uint32_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  const auto inv = static_cast<float>(1.0 / sum);
  for (std::uint32_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - m) * inv;
}

}  // namespace encore::ops::detail
