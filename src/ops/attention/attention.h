#pragma once

// Decode attention (Sdpa), flash-decoding style, in one dispatch:
//
//  attention_decode_hd{64,128}_bf16, grid (n_heads, n_splits), 128 threads. Block (h, s) takes
//  the s-th chunk of cache rows [0, kv_len) for q head h, against the K/V rows of its kv head
//  (GQA: h / (n_heads / n_kv_heads); the group's blocks read the same rows, from L2 after the
//  first). It reads the chunk in batches of K and V rows loaded together, with an online
//  softmax: the chunk's max score m, the sum l of exp(score - m) and sum_t exp(score_t - m) v_t.
//  Then:
//   - one active split: the block writes out = acc / l itself;
//   - several, all in the first cluster of the head (kAttentionClusterSplits splits, the case up
//     to 1024 positions at head_dim 64): split 0 merges them through distributed shared memory;
//   - more: it writes (acc, m, l) to scratch and takes a ticket of head h (an atomic counter
//     in the scratch, after a memory fence); the block that takes the last ticket merges the
//     active splits, out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s (every (m, l) and
//     the first partial sums in one round of loads), and sets the ticket back to zero so the
//     next dispatch (or replay) starts from zero.
//  Before its PDL wait a block asks L2 for its chunk's K and V rows: a prefetch moves no data
//  into the kernel, and L2 is the point of coherence, so a row the predecessor is still writing
//  is read correctly after the wait, and the loads after the wait hit L2.
//
//  attention_append_decode_hd{64,128}_bf16: the same, with the step's kv-cache append. k_new
//  and v_new (bf16 [n_kv_heads, head_dim], staged by an earlier dispatch: the fused qkv gemv)
//  are row kv_len - 1, which no earlier dispatch wrote into the caches. Every block therefore
//  loads its chunk's first batch of K and V rows into registers *before* its PDL wait (all but
//  the staged row, which it takes from k_new / v_new after the wait), so the cache reads leave
//  the critical path: behind a decode step's next kernels' weight loads they took 2-4 us
//  (measured on an H100: Qwen2.5-0.5B's step 0.5908 -> 0.5795 ms, Llama-3.2-1B's 1.0041 ->
//  1.0017). The split holding the staged row, for the first q head of each kv head, writes it
//  into the caches after the wait. The caches are inout and read before the wait
//  (inout params with read_before_wait): a dispatch before it that writes them takes it out of the
//  PDL chain. kv_len past max_ctx appends nothing, as kv_append writes nothing there.
//
// The launch shape depends on the AttentionShape only (n_splits is fixed at encode time), so one
// recording serves every kv_len. How many splits are *active* follows kv_len: about one per
// attention_batch_rows(head_dim) rows, at most n_splits, every active split non-empty
// (attention_split_plan); inactive blocks exit before touching memory, and the merge reads
// active splits only. A split's chunk has no length limit (it is read batch by batch), so any
// max_ctx works. kv_len is clamped to max_ctx; kv_len = 0 writes zeros.
//
// KV cache layout: bf16 [max_ctx, n_kv_heads, head_dim] (row t = position t, as kv_append
// writes it). Scratch layout (f32 unless said): acc [n_splits][n_heads][head_dim], then
// m [n_splits][n_heads], then l [n_splits][n_heads], then u32 tickets [n_heads]. The tickets
// must be zero when the scratch is first used (Device::alloc zero-fills); every dispatch leaves
// them zero.

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "encore/kernel.h"
#include "encore/ops.h"

#include "ops/bf16.h"  // ENCORE_OPS_HOST_DEVICE

namespace encore::ops::detail {

inline constexpr std::uint32_t kAttentionThreads = 128;
/// Passes of rows a block loads before using any (each pass: every thread one 16-byte vector).
inline constexpr std::uint32_t kAttentionLoadPasses = 4;

/// Rows a split takes at least before another split becomes active: the rows one batch of loads
/// covers (64 for head_dim 64, 32 for 128). A split is then at least one round trip to memory,
/// and no split is shorter than its loads could be, which keeps the merge over few partial
/// results (Qwen2.5-0.5B at 512 positions: 8 splits of 64 rows per q head).
ENCORE_OPS_HOST_DEVICE constexpr std::uint32_t attention_batch_rows(std::uint32_t head_dim) {
  return kAttentionThreads / (head_dim / 8) * kAttentionLoadPasses;
}

/// Splits of a q head that one thread-block cluster holds (attention_decode's grid.y is a
/// multiple of it), merged through distributed shared memory when they are all the active ones.
inline constexpr std::uint32_t kAttentionClusterSplits = 8;

/// The value parameter of the kernel (trivially copyable; 32 bytes).
struct AttentionParams {
  std::uint32_t n_heads;
  std::uint32_t n_kv_heads;
  std::uint32_t head_dim;
  std::uint32_t max_ctx;
  std::uint32_t n_splits;  ///< launched splits (grid.y)
  std::uint32_t min_rows;  ///< rows per active split before another one is used
  float scale;
  /// Splits of a cluster (kAttentionClusterSplits), or 0 where the kernel has no clusters
  /// (attention_o_decode).
  std::uint32_t cluster_splits;
};

/// How a kv_len is divided: `active` splits of `chunk` rows (the last one possibly shorter),
/// every active split holding at least one row; kv_len = 0 gives one split of no rows.
/// `cluster`: the active splits are the first cluster's, and merge in it.
struct AttentionSplits {
  std::uint32_t active;
  std::uint32_t chunk;
  bool cluster;
};

/// The split of `kv_len` (already clamped to max_ctx) under `p`, the same on host and device:
/// about one split per min_rows rows, at most n_splits. Where that would be at most twice
/// cluster_splits splits, the kv_len is rather divided over at most cluster_splits splits (chunks
/// of at most 2 min_rows rows) that merge in one cluster: a shorter chain than the ticket merge
/// of more, shorter splits.
ENCORE_OPS_HOST_DEVICE inline AttentionSplits attention_split_plan(const AttentionParams& p,
                                                                   std::uint32_t kv_len) {
  if (kv_len == 0) return {1, 0, false};
  std::uint32_t target = (kv_len + p.min_rows - 1) / p.min_rows;
  const bool cluster = p.cluster_splits > 1 && target <= 2 * p.cluster_splits;
  const std::uint32_t most = cluster ? p.cluster_splits : p.n_splits;
  if (target > most) target = most;
  const std::uint32_t chunk = (kv_len + target - 1) / target;
  return {(kv_len + chunk - 1) / chunk, chunk, cluster};
}

/// Offsets (in 4-byte words) of the scratch arrays for `p`.
struct AttentionScratchLayout {
  std::uint64_t m;        ///< after acc
  std::uint64_t l;        ///< after m
  std::uint64_t tickets;  ///< after l
  std::uint64_t words;    ///< total
};
ENCORE_OPS_HOST_DEVICE inline AttentionScratchLayout attention_scratch_layout(
    const AttentionParams& p) {
  const std::uint64_t ml = std::uint64_t{p.n_splits} * p.n_heads;
  const std::uint64_t m = ml * p.head_dim;
  return {m, m + ml, m + 2 * ml, m + 2 * ml + p.n_heads};
}

/// How the work is split for a shape (head_dim 64 or 128, max_ctx >= 1): n_splits, the rows
/// per split before another is used, and the kernel's dynamic shared memory bytes.
struct AttentionPlan {
  std::uint32_t n_splits = 0;
  std::uint32_t min_rows = 0;
  std::uint32_t shared_bytes = 0;
};
AttentionPlan attention_plan(const AttentionShape& shape);

struct AttentionCudaKernels {
  const void* split_hd64 = nullptr;
  const void* split_hd128 = nullptr;
  const void* append_hd64 = nullptr;  ///< attention_append_decode_hd*_bf16
  const void* append_hd128 = nullptr;
};
AttentionCudaKernels attention_cuda_kernels();

/// The softmax statistics of one q head over cache rows [begin, end), in double: the max score
/// m, l = sum_t e^(s_t - m) and acc = sum_t e^(s_t - m) v_t (head_dim values).
struct AttentionPartial {
  double m = -std::numeric_limits<double>::infinity();
  double l = 0.0;
  std::vector<double> acc;
};
/// The CPU references' scoring of q head qh (head_dim floats) against kv head g.
/// Row `staged` (absolute; none by default) comes from the staged rows k_staged and v_staged
/// (bf16 [n_kv_heads, head_dim]) instead of the caches.
AttentionPartial attention_score_chunk(const float* qh, const std::uint16_t* k_cache,
                                       const std::uint16_t* v_cache, const AttentionParams& p,
                                       std::uint32_t g, std::uint32_t begin, std::uint32_t end,
                                       const std::uint16_t* k_staged = nullptr,
                                       const std::uint16_t* v_staged = nullptr,
                                       std::uint32_t staged = ~0U);

/// CPU reference (same blocks and chunks; it merges by ticket through the scratch where the CUDA
/// kernel merges in a cluster, and otherwise leaves the same scratch contents up to rounding).
void attention_decode_cpu(const CpuKernelContext& ctx);
/// attention_append_decode_hd*_bf16: attention_decode's params, then in k_new, in v_new.
void attention_append_decode_cpu(const CpuKernelContext& ctx);

void register_attention_kernels(KernelRegistry& registry);

/// Registers "<stem>_hd64_bf16" and "<stem>_hd128_bf16" (op Sdpa, programmatic dependency) with
/// `params`, the CPU reference `cpu` and the CUDA kernels of each head_dim.
void register_head_dim_kernels(KernelRegistry& registry, std::string_view stem,
                               const std::vector<Param>& params, const CpuKernelFn& cpu,
                               const void* cuda_hd64, const void* cuda_hd128);

/// The checks every decode attention op makes of its inputs, throwing Error(InvalidArgument)
/// that names `op` and `label`: kv_len a u32, scale finite, q and the caches of the shape's
/// sizes and 16-byte aligned.
void expect_attention_inputs(std::string_view op, std::string_view label,
                             const AttentionShape& shape, const BufferView& q,
                             const BufferView& k_cache, const BufferView& v_cache,
                             const Arg& kv_len, float scale);

}  // namespace encore::ops::detail
