// CPU reference of attention_o_decode: block 0 computes y = W_o x, x the attention output of
// every q head over the whole chunk [0, kv_len) in double (rounded to f32, as the CUDA kernel
// holds x), the projection in double. The split plan only matters to the CUDA kernel, so the
// reference has none, and the scratch (the CUDA kernel's partial results) is left alone.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/attention/attention.h"
#include "ops/attention/attention_o.h"
#include "ops/bf16.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

constexpr const char* kKernel = "attention_o_decode";

}  // namespace

void attention_o_decode_cpu(const CpuKernelContext& ctx) {
  if (ctx.block_index().x != 0) return;
  const auto p = ctx.value<AttentionOParams>(6);
  const AttentionParams& a = p.attention;
  const std::uint32_t kv_len = std::min(ctx.value<std::uint32_t>(7), a.max_ctx);
  const std::uint32_t d = a.head_dim;
  const std::uint64_t q_dim = std::uint64_t{a.n_heads} * d;
  const std::uint64_t cache_elems = std::uint64_t{a.max_ctx} * a.n_kv_heads * d;
  check_arg_bytes(ctx, 0, q_dim * sizeof(float), kKernel);
  check_arg_bytes(ctx, 1, cache_elems * 2, kKernel);
  check_arg_bytes(ctx, 2, cache_elems * 2, kKernel);
  check_arg_bytes(ctx, 3, std::uint64_t{p.rows} * q_dim * 2, kKernel);
  check_arg_bytes(ctx, 4, std::uint64_t{p.rows} * sizeof(float), kKernel);
  const float* q = ctx.ptr<const float>(0);
  const std::uint16_t* k_cache = ctx.ptr<const std::uint16_t>(1);
  const std::uint16_t* v_cache = ctx.ptr<const std::uint16_t>(2);
  const std::uint16_t* w = ctx.ptr<const std::uint16_t>(3);
  float* y = ctx.ptr<float>(4);

  std::vector<float> x(q_dim);
  for (std::uint32_t h = 0; h < a.n_heads && kv_len > 0; ++h) {
    const AttentionPartial part = attention_score_chunk(
        q + std::uint64_t{h} * d, k_cache, v_cache, a, h / (a.n_heads / a.n_kv_heads), 0, kv_len);
    for (std::uint32_t i = 0; i < d; ++i) {
      x[std::uint64_t{h} * d + i] = static_cast<float>(part.acc[i] / part.l);
    }
  }
  for (std::uint32_t r = 0; r < p.rows; ++r) {
    const std::uint16_t* row = w + std::uint64_t{r} * q_dim;
    double sum = 0.0;
    for (std::uint64_t c = 0; c < q_dim; ++c) sum += double{bf16_to_float(row[c])} * x[c];
    y[r] = static_cast<float>(sum);
  }
}

}  // namespace encore::ops::detail
