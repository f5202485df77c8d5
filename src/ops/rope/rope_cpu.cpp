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
    const RopePair pr = rope_pair(static_cast<std::uint32_t>(p), head_dim, style);
    const Turned r = rope_turn_cpu(x[pr.a], x[pr.b], pos, inv_freq[pr.j]);
    x[pr.a] = r.a;
    x[pr.b] = r.b;
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
    const auto pair = static_cast<std::uint32_t>(is_q ? item : item - q_pairs);
    const RopePair pr = rope_pair(pair, p.head_dim, p.style);
    if (is_q) {
      const Turned r = rope_turn_cpu(q[pr.a], q[pr.b], pos, inv_freq[pr.j]);
      q[pr.a] = r.a;
      q[pr.b] = r.b;
    } else if (append) {
      const Turned r = rope_turn_cpu(k[pr.a], k[pr.b], pos, inv_freq[pr.j]);
      k_row[pr.a] = float_to_bf16(r.a);
      k_row[pr.b] = float_to_bf16(r.b);
    }
  }
}

}  // namespace encore::ops::detail
