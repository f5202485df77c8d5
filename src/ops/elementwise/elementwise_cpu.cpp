// CPU reference of silu_mul_f32, written like the CUDA kernel: each "thread" of the block
// computes its global index and bounds-checks it against n.

#include <cmath>
#include <cstdint>

#include "ops/elementwise/elementwise.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

void silu_mul_cpu(const CpuKernelContext& ctx) {
  const auto n = ctx.value<std::uint32_t>(3);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  const std::uint64_t last = first + ctx.block().x < n ? first + ctx.block().x : n;
  if (first >= last) return;
  for (std::size_t arg = 0; arg < 3; ++arg) {
    check_arg_bytes(ctx, arg, last * sizeof(float), "silu_mul_f32");
  }
  const float* gate = ctx.ptr<float>(0);
  const float* up = ctx.ptr<float>(1);
  float* out = ctx.ptr<float>(2);
  for (std::uint64_t i = first; i < last; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0F + std::exp(-g)) * up[i];
  }
}

}  // namespace encore::ops::detail
