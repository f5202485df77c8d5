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
// The merge: a grid's splits are clusters of kAttentionClusterSplits blocks (one q head). Where
// the active splits fit the first cluster (attention_split_plan: up to 2 * min_rows rows a
// split, 1024 positions at head_dim 64, 512 at 128), they merge through distributed shared
// memory: each split writes its sums into split 0's shared memory, one cluster barrier, split 0
// combines them (one barrier where there were two, measured -2.2% of a Qwen2.5-0.5B step and
// -0.9% of a Llama-3.2-1B one on an H200). Beyond, the last split
// of a head to finish, by a ticket in the scratch, merges it (attention_block.cuh): a fence, an
// atomic and a round trip to L2 more on the critical path (a call at 512 positions on an H100:
// 4.33 us with the cluster merge against 4.98 with the ticket for Llama-3.2-1B's shape, 3.39
// against 4.22 for Qwen2.5-0.5B's; see docs/architecture.md for the longer contexts).
//
// PDL: inactive blocks exit before touching memory (split 0 is always active and waits, so the
// grid never completes before its predecessor; in a cluster merge the first cluster's blocks
// all stay, those without rows included); active blocks prefetch their K and V rows into
// L2, trigger dependents and wait before reading q or the cache (the dependent, the o gemv,
// loads its weights while this kernel runs). The appending kernel (attention.h) loads its
// chunk's first batch into registers instead, every row but the staged one, and L2-prefetches
// the rest of the chunk.

#include <cooperative_groups.h>
#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/attention/attention_block.cuh"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

using namespace attention_block;  // NOLINT(google-build-using-namespace): this file's core

// Before the PDL wait, every block of a cluster merge arrives on the cluster barrier;
// merge_in_cluster waits on it before it writes into split 0's shared memory, which DSMEM
// allows only once the target block has started (by then the wait returns at once).
__device__ __forceinline__ void cluster_arrive_started() {
  asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
}
__device__ __forceinline__ void cluster_wait_started() {
  asm volatile("barrier.cluster.wait.aligned;" ::: "memory");
}

// The cluster merge: the active splits are the first kCluster of q head `head`, one cluster
// (inactive ones, len 0, take part with l = 0). Each block writes its chunk's sums and (m, l)
// straight into split 0's shared memory, in the slot of its rank (gathered, gathered_ml); one
// cluster barrier makes them visible there; split 0 combines them from its own shared memory
// and writes the head's output, and the others exit at once: no block reads another's shared
// memory after the barrier, so none has to stay alive for it.
template <int D>
__device__ __forceinline__ void merge_in_cluster(const BlockAttention& r, std::uint32_t len,
                                                 const float* reduction, float (*gathered)[D],
                                                 float (*gathered_ml)[2], float* head_out) {
  namespace cg = cooperative_groups;
  constexpr int kCluster = static_cast<int>(kAttentionClusterSplits);
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned rank = cluster.block_rank();
  cluster_wait_started();
  float* sums = cluster.map_shared_rank(&gathered[rank][0], 0);
  float* ml = cluster.map_shared_rank(&gathered_ml[rank][0], 0);
  if (len > 0) {
    for (int at = static_cast<int>(threadIdx.x); at < D; at += kThreads) {
      sums[at] = r.weighted_sum<D>(reduction, at);
    }
  }
  if (threadIdx.x == 0) {
    ml[0] = len > 0 ? r.m : negative_infinity();
    ml[1] = len > 0 ? r.l : 0.0F;
  }
  cluster.sync();
  if (rank != 0) return;
  for (int at = static_cast<int>(threadIdx.x); at < D; at += kThreads) {
    float big_m = negative_infinity();
#pragma unroll
    for (int j = 0; j < kCluster; ++j) {
      if (gathered_ml[j][1] > 0.0F) big_m = fmaxf(big_m, gathered_ml[j][0]);
    }
    float num = 0.0F;
    float den = 0.0F;
#pragma unroll
    for (int j = 0; j < kCluster; ++j) {
      const float l = gathered_ml[j][1];
      const float w = l > 0.0F ? exp2_approx(gathered_ml[j][0] - big_m) : 0.0F;
      if (l > 0.0F) num = fmaf(w, gathered[j][at], num);
      den = fmaf(w, l, den);
    }
    head_out[at] = num / den;  // split 0 has rows: den > 0
  }
}

// Block (head, s) of either kernel. kAppend (attention_append_decode): k_new and v_new are
// cache row kv_len - 1 (when kv_len <= max_ctx), which no earlier kernel wrote into the caches:
// every other row of the chunk's first batch is loaded before the PDL wait (the step writes no
// other row), the staged one after it, and the split holding it for the kv head's first q head
// writes it into the caches.
template <int D, bool kAppend>
__device__ __forceinline__ void attention_body(const float* __restrict__ q, std::uint16_t* k_cache,
                                               std::uint16_t* v_cache, float* __restrict__ out,
                                               float* __restrict__ scratch, AttentionParams p,
                                               std::uint32_t kv_len, const std::uint16_t* k_new,
                                               const std::uint16_t* v_new) {
  extern __shared__ float shared[];
  __shared__ float warp_m[kWarps];
  __shared__ float warp_l[kWarps];
  __shared__ float head_den;
  __shared__ unsigned is_last;

  const std::uint32_t head = blockIdx.x;
  const std::uint32_t group = p.n_heads / p.n_kv_heads;
  const std::uint32_t g = head / group;  // its kv head
  const std::uint32_t s = blockIdx.y;
  const bool appends = kAppend && kv_len >= 1 && kv_len <= p.max_ctx;
  if (kv_len > p.max_ctx) kv_len = p.max_ctx;
  const AttentionSplits splits = attention_split_plan(p, kv_len);
  // A cluster merge needs every block of the first cluster; otherwise the inactive exit. Whole
  // clusters exit together either way (the grid's other clusters, in a cluster merge).
  const bool in_cluster = splits.cluster && splits.active > 1;
  if (s >= (in_cluster ? kAttentionClusterSplits : splits.active)) return;  // no memory touched
  const unsigned tid = threadIdx.x;
  const std::uint32_t begin = s * splits.chunk;
  const std::uint32_t len = s < splits.active ? min(kv_len, begin + splits.chunk) - begin : 0;
  const std::uint32_t row_stride = p.n_kv_heads * D;  // elements between positions
  const StagedRow staged{.at = appends && kv_len - 1 >= begin && kv_len - 1 < begin + len
                                   ? kv_len - 1 - begin
                                   : kNoStagedRow,
                         .k = k_new,
                         .v = v_new};
  if (in_cluster) cluster_arrive_started();
  [[maybe_unused]] FirstBatch first;
  if constexpr (kAppend) {
    constexpr std::uint32_t kBatchRows = attention_batch_rows(D);
    if (len > 0) load_first_batch<D>(first, k_cache, v_cache, g, begin, len, row_stride, staged.at);
    if (len > kBatchRows) {
      prefetch_chunk<D>(k_cache, v_cache, g, begin + kBatchRows, len - kBatchRows, row_stride);
    }
  } else {
    if (len > 0) prefetch_chunk<D>(k_cache, v_cache, g, begin, len, row_stride);
  }
  pdl_launch_dependents();
  pdl_wait();
  ENCORE_TIMELINE_EXIT;

  if (kAppend && staged.at != kNoStagedRow && head % group == 0 && tid < D / 8) {
    const std::uint64_t at = std::uint64_t{kv_len - 1} * row_stride + g * D + tid * 8;
    *reinterpret_cast<uint4*>(k_cache + at) = load_stream_step_16(k_new + g * D + tid * 8);
    *reinterpret_cast<uint4*>(v_cache + at) = load_stream_step_16(v_new + g * D + tid * 8);
  }
  float* head_out = out + std::uint64_t{head} * D;
  if (kv_len == 0) {
    for (int at = static_cast<int>(tid); at < D; at += kThreads) head_out[at] = 0.0F;
    return;
  }
  BlockAttention r{};
  if (len > 0) {
    r = block_attend<D>(q + std::uint64_t{head} * D, k_cache, v_cache, g, begin, len, row_stride,
                        p.scale, shared, warp_m, warp_l, kAppend ? &first : nullptr, staged);
  }
  ENCORE_TIMELINE_MARK(Mark);  // the chunk is scored; the merge follows

  if (splits.active == 1) {  // the only split: normalise and write the output directly
    for (int at = static_cast<int>(tid); at < D; at += kThreads) {
      head_out[at] = r.weighted_sum<D>(shared, at) / r.l;
    }
    return;
  }
  if (in_cluster) {
    __shared__ float gathered[kAttentionClusterSplits][D];
    __shared__ float gathered_ml[kAttentionClusterSplits][2];
    merge_in_cluster<D>(r, len, shared, gathered, gathered_ml, head_out);
    return;
  }

  ticket_merge_split<D>(scratch, p, attention_scratch_layout(p), r, shared, head,
                        std::uint64_t{s} * p.n_heads + head, splits.active, head_out, &is_last,
                        &head_den);
}

template <int D>
__global__ void __cluster_dims__(1, kAttentionClusterSplits, 1) __launch_bounds__(kThreads)
    attention_decode(const float* __restrict__ q, const std::uint16_t* k_cache,
                     const std::uint16_t* v_cache, float* __restrict__ out,
                     float* __restrict__ scratch, AttentionParams p, std::uint32_t kv_len) {
  // Never written without an append: the casts only share the body.
  attention_body<D, false>(q, const_cast<std::uint16_t*>(k_cache),
                           const_cast<std::uint16_t*>(v_cache), out, scratch, p, kv_len, nullptr,
                           nullptr);
}

template <int D>
__global__ void __cluster_dims__(1, kAttentionClusterSplits, 1) __launch_bounds__(kThreads)
    attention_append_decode(const float* __restrict__ q, std::uint16_t* k_cache,
                            std::uint16_t* v_cache, float* __restrict__ out,
                            float* __restrict__ scratch, AttentionParams p, std::uint32_t kv_len,
                            const std::uint16_t* __restrict__ k_new,
                            const std::uint16_t* __restrict__ v_new) {
  attention_body<D, true>(q, k_cache, v_cache, out, scratch, p, kv_len, k_new, v_new);
}

}  // namespace

AttentionCudaKernels attention_cuda_kernels() {
  return {.split_hd64 = reinterpret_cast<const void*>(&attention_decode<64>),
          .split_hd128 = reinterpret_cast<const void*>(&attention_decode<128>),
          .append_hd64 = reinterpret_cast<const void*>(&attention_append_decode<64>),
          .append_hd128 = reinterpret_cast<const void*>(&attention_append_decode<128>)};
}

}  // namespace encore::ops::detail
