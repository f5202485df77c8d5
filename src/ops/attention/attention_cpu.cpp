// CPU reference of the decode attention kernel: block (h, s) scores its chunk for q head h
// (against kv head h / group) with double sums; with one active split it writes the output,
// else it writes (acc, m, l) to scratch and takes a ticket of head h, and the block taking the
// last ticket merges the active splits (in double) and resets the ticket. Same split plan and
// scratch contents as the CUDA kernel (the CPU backend runs the blocks of a dispatch one after
// another, so the last block of each head in launch order merges).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/attention/attention.h"
#include "ops/bf16.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

constexpr const char* kKernel = "attention_decode";

// out[head] = merge of the active splits' (acc, m, l) in scratch.
void merge_head(const float* scratch, const AttentionScratchLayout& layout,
                const AttentionParams& p, std::uint32_t head, std::uint32_t active, float* out) {
  const std::uint32_t d = p.head_dim;
  double big_m = -std::numeric_limits<double>::infinity();
  for (std::uint32_t s = 0; s < active; ++s) {
    const std::uint64_t at = std::uint64_t{s} * p.n_heads + head;
    if (scratch[layout.l + at] > 0.0F) big_m = std::max(big_m, double{scratch[layout.m + at]});
  }
  std::vector<double> num(d, 0.0);
  double den = 0.0;
  for (std::uint32_t s = 0; s < active; ++s) {
    const std::uint64_t at = std::uint64_t{s} * p.n_heads + head;
    const float l = scratch[layout.l + at];
    if (!(l > 0.0F)) continue;
    const double w = std::exp(double{scratch[layout.m + at]} - big_m);
    den += w * l;
    for (std::uint32_t i = 0; i < d; ++i) num[i] += w * scratch[at * d + i];
  }
  for (std::uint32_t i = 0; i < d; ++i) {
    out[std::uint64_t{head} * d + i] = den > 0.0 ? static_cast<float>(num[i] / den) : 0.0F;
  }
}

}  // namespace

AttentionPartial attention_score_chunk(const float* qh, const std::uint16_t* k_cache,
                                       const std::uint16_t* v_cache, const AttentionParams& p,
                                       std::uint32_t g, std::uint32_t begin, std::uint32_t end,
                                       const std::uint16_t* k_staged, const std::uint16_t* v_staged,
                                       std::uint32_t staged) {
  const std::uint32_t d = p.head_dim;
  std::vector<double> scores(end - begin);
  AttentionPartial out;
  out.acc.assign(d, 0.0);
  for (std::uint32_t t = begin; t < end; ++t) {
    const std::uint16_t* k = t == staged ? k_staged + std::uint64_t{g} * d
                                         : k_cache + (std::uint64_t{t} * p.n_kv_heads + g) * d;
    double dot = 0.0;
    for (std::uint32_t i = 0; i < d; ++i) dot += double{qh[i]} * bf16_to_float(k[i]);
    scores[t - begin] = dot * p.scale;
    out.m = std::max(out.m, scores[t - begin]);
  }
  for (std::uint32_t t = begin; t < end; ++t) {
    const double e = std::exp(scores[t - begin] - out.m);
    out.l += e;
    const std::uint16_t* v = t == staged ? v_staged + std::uint64_t{g} * d
                                         : v_cache + (std::uint64_t{t} * p.n_kv_heads + g) * d;
    for (std::uint32_t i = 0; i < d; ++i) out.acc[i] += e * bf16_to_float(v[i]);
  }
  return out;
}

namespace {

// Block (head, s) of either kernel; `append`: params 7 and 8 are the staged k and v rows, cache
// row kv_len - 1 (when kv_len <= max_ctx), which the split holding that row of the kv head's
// first q head writes into the caches.
void attention_block_cpu(const CpuKernelContext& ctx, bool append) {
  const auto p = ctx.value<AttentionParams>(5);
  const std::uint32_t requested = ctx.value<std::uint32_t>(6);
  const std::uint32_t kv_len = std::min(requested, p.max_ctx);
  const std::uint32_t head = ctx.block_index().x;
  const std::uint32_t g = head / (p.n_heads / p.n_kv_heads);
  const std::uint32_t s = ctx.block_index().y;
  const AttentionSplits splits = attention_split_plan(p, kv_len);
  if (s >= splits.active) return;
  const std::uint32_t d = p.head_dim;
  const std::uint64_t cache_elems = std::uint64_t{p.max_ctx} * p.n_kv_heads * d;
  const AttentionScratchLayout layout = attention_scratch_layout(p);
  check_arg_bytes(ctx, 0, std::uint64_t{p.n_heads} * d * sizeof(float), kKernel);
  check_arg_bytes(ctx, 1, cache_elems * 2, kKernel);
  check_arg_bytes(ctx, 2, cache_elems * 2, kKernel);
  check_arg_bytes(ctx, 3, std::uint64_t{p.n_heads} * d * sizeof(float), kKernel);
  check_arg_bytes(ctx, 4, layout.words * 4, kKernel);
  const float* q = ctx.ptr<const float>(0);
  std::uint16_t* k_cache = ctx.ptr<std::uint16_t>(1);
  std::uint16_t* v_cache = ctx.ptr<std::uint16_t>(2);
  float* out = ctx.ptr<float>(3);
  float* scratch = ctx.ptr<float>(4);

  float* head_out = out + std::uint64_t{head} * d;
  if (kv_len == 0) {
    std::fill_n(head_out, d, 0.0F);
    return;
  }
  const std::uint32_t begin = s * splits.chunk;
  const std::uint32_t end = std::min(kv_len, begin + splits.chunk);
  const std::uint16_t* k_staged = nullptr;
  const std::uint16_t* v_staged = nullptr;
  std::uint32_t staged = ~0U;
  if (append && requested >= 1 && requested <= p.max_ctx) {
    const std::uint64_t row = std::uint64_t{p.n_kv_heads} * d;
    check_arg_bytes(ctx, 7, row * 2, kKernel);
    check_arg_bytes(ctx, 8, row * 2, kKernel);
    k_staged = ctx.ptr<const std::uint16_t>(7);
    v_staged = ctx.ptr<const std::uint16_t>(8);
    staged = requested - 1;
  }
  const AttentionPartial part = attention_score_chunk(q + std::uint64_t{head} * d, k_cache, v_cache,
                                                      p, g, begin, end, k_staged, v_staged, staged);
  if (staged >= begin && staged < end && head % (p.n_heads / p.n_kv_heads) == 0) {
    const std::uint64_t at = (std::uint64_t{staged} * p.n_kv_heads + g) * d;
    std::copy_n(k_staged + std::uint64_t{g} * d, d, k_cache + at);
    std::copy_n(v_staged + std::uint64_t{g} * d, d, v_cache + at);
  }
  if (splits.active == 1) {
    for (std::uint32_t i = 0; i < d; ++i) head_out[i] = static_cast<float>(part.acc[i] / part.l);
    return;
  }
  const std::uint64_t at = std::uint64_t{s} * p.n_heads + head;
  scratch[layout.m + at] = static_cast<float>(part.m);
  scratch[layout.l + at] = static_cast<float>(part.l);
  for (std::uint32_t i = 0; i < d; ++i) scratch[at * d + i] = static_cast<float>(part.acc[i]);

  // The ticket of head h: the block taking the last one merges and resets it.
  std::uint32_t ticket = 0;
  std::byte* ticket_bytes = reinterpret_cast<std::byte*>(scratch + layout.tickets + head);
  std::memcpy(&ticket, ticket_bytes, sizeof ticket);
  const bool last = ticket == splits.active - 1;
  ticket = last ? 0 : ticket + 1;
  std::memcpy(ticket_bytes, &ticket, sizeof ticket);
  if (last) merge_head(scratch, layout, p, head, splits.active, out);
}

}  // namespace

void attention_decode_cpu(const CpuKernelContext& ctx) { attention_block_cpu(ctx, false); }
void attention_append_decode_cpu(const CpuKernelContext& ctx) { attention_block_cpu(ctx, true); }

}  // namespace encore::ops::detail
