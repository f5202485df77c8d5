// CPU reference of rope_f32: one pair per "thread". The angle is formed in f32 exactly as the
// CUDA kernel forms it (f32(pos) * inv_freq[j], one rounding), so both rotate by the same angle.

#include <cmath>
#include <cstdint>

#include "ops/op_common.h"
#include "ops/rope/rope.h"

namespace encore::ops::detail {

void rope_cpu(const CpuKernelContext& ctx) {
  const auto pos = ctx.value<std::uint32_t>(2);
  const auto n_heads = ctx.value<std::uint32_t>(3);
  const auto head_dim = ctx.value<std::uint32_t>(4);
  const auto style = ctx.value<std::uint32_t>(5);
  const std::uint32_t half = head_dim / 2;
  const std::uint64_t pairs = std::uint64_t{n_heads} * half;
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  const std::uint64_t last = first + ctx.block().x < pairs ? first + ctx.block().x : pairs;
  if (first >= last) return;
  check_arg_bytes(ctx, 0, std::uint64_t{n_heads} * head_dim * sizeof(float), "rope_f32");
  check_arg_bytes(ctx, 1, std::uint64_t{half} * sizeof(float), "rope_f32");
  float* x = ctx.ptr<float>(0);
  const float* inv_freq = ctx.ptr<const float>(1);
  for (std::uint64_t p = first; p < last; ++p) {
    const std::uint64_t head = p / half;
    const std::uint32_t j = static_cast<std::uint32_t>(p % half);
    const float angle = static_cast<float>(pos) * inv_freq[j];
    const float c = std::cos(angle);
    const float s = std::sin(angle);
    float* h = x + head * head_dim;
    float* a = style == 0 ? h + j : h + 2 * j;
    float* b = style == 0 ? h + j + half : h + 2 * j + 1;
    const float x0 = *a;
    const float x1 = *b;
    *a = x0 * c - x1 * s;
    *b = x0 * s + x1 * c;
  }
}

}  // namespace encore::ops::detail
