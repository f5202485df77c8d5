// CPU references of rope_f32 and rope_kv_append_bf16: one pair per "thread". The angle is formed
// in f32 exactly as the CUDA kernels form it (f32(pos) * inv_freq[j], one rounding), so both
// rotate by the same angle; both references rotate through the same function, so the fused op
// equals rope followed by kv_append bit for bit.

#include <cmath>
#include <cstdint>

#include "ops/bf16.h"
#include "ops/op_common.h"
#include "ops/rope/rope.h"

namespace encore::ops::detail {

namespace {

struct Pair {
  float a;
  float b;
};

// Offsets of pair j's two elements within a head.
void pair_offsets(std::uint32_t j, std::uint32_t half, std::uint32_t style, std::uint32_t* a,
                  std::uint32_t* b) {
  *a = style == 0 ? j : 2 * j;
  *b = style == 0 ? j + half : 2 * j + 1;
}

// (x0, x1) turned by pos * inv_freq_j.
Pair rotate(float x0, float x1, std::uint32_t pos, float inv_freq_j) {
  const float angle = static_cast<float>(pos) * inv_freq_j;
  const float c = std::cos(angle);
  const float s = std::sin(angle);
  return {x0 * c - x1 * s, x0 * s + x1 * c};
}

// Items [first, last) of a launch of `block` threads per block over `items`.
bool block_items(const CpuKernelContext& ctx, std::uint64_t items, std::uint64_t* first,
                 std::uint64_t* last) {
  *first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  *last = *first + ctx.block().x < items ? *first + ctx.block().x : items;
  return *first < *last;
}

}  // namespace

void rope_cpu(const CpuKernelContext& ctx) {
  const auto pos = ctx.value<std::uint32_t>(2);
  const auto n_heads = ctx.value<std::uint32_t>(3);
  const auto head_dim = ctx.value<std::uint32_t>(4);
  const auto style = ctx.value<std::uint32_t>(5);
  const std::uint32_t half = head_dim / 2;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (!block_items(ctx, std::uint64_t{n_heads} * half, &first, &last)) return;
  check_arg_bytes(ctx, 0, std::uint64_t{n_heads} * head_dim * sizeof(float), "rope_f32");
  check_arg_bytes(ctx, 1, std::uint64_t{half} * sizeof(float), "rope_f32");
  float* x = ctx.ptr<float>(0);
  const float* inv_freq = ctx.ptr<const float>(1);
  for (std::uint64_t p = first; p < last; ++p) {
    const std::uint32_t j = static_cast<std::uint32_t>(p % half);
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    pair_offsets(j, half, style, &a, &b);
    float* h = x + (p / half) * head_dim;
    const Pair r = rotate(h[a], h[b], pos, inv_freq[j]);
    h[a] = r.a;
    h[b] = r.b;
  }
}

void rope_kv_append_cpu(const CpuKernelContext& ctx) {
  constexpr const char* kKernel = "rope_kv_append_bf16";
  const auto pos = ctx.value<std::uint32_t>(6);
  const auto p = ctx.value<RopeKvParams>(7);
  const std::uint32_t half = p.head_dim / 2;
  const std::uint64_t q_pairs = std::uint64_t{p.n_heads} * half;
  const std::uint64_t kv_pairs = std::uint64_t{p.n_kv_heads} * half;
  const std::uint64_t row_elems = std::uint64_t{p.n_kv_heads} * p.head_dim;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (!block_items(ctx, rope_kv_items(p), &first, &last)) return;
  const bool append = pos < p.max_rows;
  check_arg_bytes(ctx, 0, q_pairs * 2 * sizeof(float), kKernel);
  check_arg_bytes(ctx, 1, row_elems * sizeof(float), kKernel);
  check_arg_bytes(ctx, 2, row_elems * sizeof(float), kKernel);
  check_arg_bytes(ctx, 3, std::uint64_t{half} * sizeof(float), kKernel);
  if (append) {
    check_arg_bytes(ctx, 4, (pos + 1) * row_elems * 2, kKernel);
    check_arg_bytes(ctx, 5, (pos + 1) * row_elems * 2, kKernel);
  }
  float* q = ctx.ptr<float>(0);
  const float* k = ctx.ptr<const float>(1);
  const float* v = ctx.ptr<const float>(2);
  const float* inv_freq = ctx.ptr<const float>(3);
  const std::uint64_t row = append ? pos * row_elems : 0;  // unused when not appending
  std::uint16_t* k_row = ctx.ptr<std::uint16_t>(4) + row;
  std::uint16_t* v_row = ctx.ptr<std::uint16_t>(5) + row;
  for (std::uint64_t item = first; item < last; ++item) {
    if (item >= q_pairs + kv_pairs) {  // two elements of v
      if (!append) continue;
      const std::uint64_t e = 2 * (item - q_pairs - kv_pairs);
      v_row[e] = float_to_bf16(v[e]);
      v_row[e + 1] = float_to_bf16(v[e + 1]);
      continue;
    }
    const bool is_q = item < q_pairs;
    const std::uint64_t pair = is_q ? item : item - q_pairs;
    const std::uint32_t j = static_cast<std::uint32_t>(pair % half);
    const std::uint64_t head = (pair / half) * p.head_dim;
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    pair_offsets(j, half, p.style, &a, &b);
    if (is_q) {
      const Pair r = rotate(q[head + a], q[head + b], pos, inv_freq[j]);
      q[head + a] = r.a;
      q[head + b] = r.b;
    } else if (append) {
      const Pair r = rotate(k[head + a], k[head + b], pos, inv_freq[j]);
      k_row[head + a] = float_to_bf16(r.a);
      k_row[head + b] = float_to_bf16(r.b);
    }
  }
}

}  // namespace encore::ops::detail
