// CUDA decode attention (see attention.h for the algorithm and layouts).
//
// One q head per block, 128 threads: a K or V row of head_dim bf16 is read by head_dim / 8
// lanes (a row group), 16 bytes each, so a warp reads 2 (hd128) or 4 (hd64) rows per load and
// the block 8 or 16 rows per pass. A batch is kAttentionLoadPasses passes of K rows and the same
// V rows, all loaded before any is used, and the next batch's loads are issued before this one
// is used (two batches in registers): a split of attention_batch_rows(head_dim) rows is one round
// trip to memory, and a longer one keeps its loads in flight while it computes. The first batch
// is asked for before q is used, so that q and the rows arrive in one round trip.
// Online softmax per row group: each row group keeps its own running max m, sum l and weighted
// value sum (8 dims per lane) over the rows it reads, rescaling once per batch, so scores never
// go to shared memory and the block does not synchronise inside its loop. At the end the row
// groups of a warp combine through shuffles and the 4 warps through shared memory. Scores are in
// base-2 units (q is scaled by scale * log2 e) so that every exponential is one ex2.
// Loop trip counts are uniform across the block (rows past the chunk load zeros and score -inf),
// because the dot products use full-warp shuffles.
// Why one head per block: the work of a decode step's attention is small and made of short
// dependent chains; a block per q head spreads them over n_heads times the blocks of a block per
// kv head. The group's blocks read the same K/V rows, from L2 after the first.
//
// The merge (attention_block.cuh): the last split of a head to finish, by a ticket, merges it.
//
// PDL: inactive blocks exit before touching memory (split 0 is always active and waits, so the
// grid never completes before its predecessor); active blocks prefetch their K and V rows into
// L2, wait before reading q or the cache, and trigger dependents right after (the dependent, the
// o gemv, then loads its weights while this kernel runs).

#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/attention/attention_block.cuh"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

using namespace attention_block;  // NOLINT(google-build-using-namespace): this file's core

template <int D>
__global__ void __launch_bounds__(kThreads)
    attention_decode(const float* __restrict__ q, const std::uint16_t* __restrict__ k_cache,
                     const std::uint16_t* __restrict__ v_cache, float* __restrict__ out,
                     float* __restrict__ scratch, AttentionParams p, std::uint32_t kv_len) {
  extern __shared__ float shared[];
  __shared__ float warp_m[kWarps];
  __shared__ float warp_l[kWarps];
  __shared__ float head_den;
  __shared__ unsigned is_last;

  const std::uint32_t head = blockIdx.x;
  const std::uint32_t g = head / (p.n_heads / p.n_kv_heads);  // its kv head
  const std::uint32_t s = blockIdx.y;
  if (kv_len > p.max_ctx) kv_len = p.max_ctx;
  const AttentionSplits splits = attention_split_plan(p, kv_len);
  if (s >= splits.active) return;  // inactive: no memory touched
  const unsigned tid = threadIdx.x;
  const std::uint32_t begin = s * splits.chunk;
  const std::uint32_t len = min(kv_len, begin + splits.chunk) - begin;
  const std::uint32_t row_stride = p.n_kv_heads * D;  // elements between positions
  prefetch_chunk<D>(k_cache, v_cache, g, begin, len, row_stride);
  pdl_wait();
  pdl_launch_dependents();

  float* head_out = out + std::uint64_t{head} * D;
  if (kv_len == 0) {
    for (int at = static_cast<int>(tid); at < D; at += kThreads) head_out[at] = 0.0F;
    return;
  }
  const BlockAttention r = block_attend<D>(q + std::uint64_t{head} * D, k_cache, v_cache, g, begin,
                                           len, row_stride, p.scale, shared, warp_m, warp_l);

  if (splits.active == 1) {  // the only split: normalise and write the output directly
    for (int at = static_cast<int>(tid); at < D; at += kThreads) {
      head_out[at] = r.weighted_sum<D>(shared, at) / r.l;
    }
    return;
  }

  const AttentionScratchLayout layout = attention_scratch_layout(p);
  float* acc_out = scratch + (std::uint64_t{s} * p.n_heads + head) * D;
  for (int at = static_cast<int>(tid); at < D; at += kThreads) {
    acc_out[at] = r.weighted_sum<D>(shared, at);
  }
  if (tid == 0) {
    scratch[layout.m + std::uint64_t{s} * p.n_heads + head] = r.m * kLn2;
    scratch[layout.l + std::uint64_t{s} * p.n_heads + head] = r.l;
  }
  if (!last_split_of_head(scratch, layout, head, splits.active, &is_last)) return;
  merge_head<D>(scratch, head_out, p, layout, head, splits.active, shared, &head_den);
}

}  // namespace

AttentionCudaKernels attention_cuda_kernels() {
  return {.split_hd64 = reinterpret_cast<const void*>(&attention_decode<64>),
          .split_hd128 = reinterpret_cast<const void*>(&attention_decode<128>)};
}

}  // namespace encore::ops::detail
