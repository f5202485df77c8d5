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
// Memory ordering of the merge: every thread fences its scratch writes before the block takes
// its ticket; the block that takes the last ticket fences again and reads the other splits'
// results through L2 (ld.global.cg), never through a possibly stale L1 line. Scratch holds m in
// natural-log units, as the CPU reference writes it.
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

constexpr int kSplitsInFlight = 16;  // partial sums loaded together per output element (merge)

// Merges the `active` splits of q head `head` from scratch into head_out (the last block).
// m_l: shared space for 2 * active + kThreads floats. The first kSplitsInFlight partial sums of
// each thread are loaded together with every (m, l): they do not depend on the weights. Then
// warp 0 takes the max M over splits with rows, the weights 2^(m_s - M) (in place of m) and
// den = sum_s w_s l_s; each output element sums its splits over kThreads / D threads.
template <int D>
__device__ void merge_head(const float* scratch, float* head_out, const AttentionParams& p,
                           const AttentionScratchLayout& layout, std::uint32_t head,
                           std::uint32_t active, float* m_l, float* den_shared) {
  constexpr int kParts = kThreads / D;  // threads per output element: 2 (hd64) or 1 (hd128)
  const int tid = static_cast<int>(threadIdx.x);
  const unsigned lane = threadIdx.x & 31U;
  const int n = static_cast<int>(active);
  float* w = m_l;           // [active]: m, then the weight
  float* l = m_l + n;       // [active]
  float* part_sum = l + n;  // [kThreads]
  const int at = tid % D;
  const int part = tid / D;
  const std::uint64_t split_stride = std::uint64_t{p.n_heads} * D;
  const float* acc = scratch + std::uint64_t{head} * D + at;
  float v[kSplitsInFlight];
  int j0 = part * kSplitsInFlight;
#pragma unroll
  for (int u = 0; u < kSplitsInFlight; ++u) {
    const int j = j0 + u;
    v[u] = j < n ? __ldcg(acc + std::uint64_t(j) * split_stride) : 0.0F;
  }
  for (int j = tid; j < n; j += kThreads) {
    const std::uint64_t s_at = std::uint64_t(j) * p.n_heads + head;
    w[j] = __ldcg(scratch + layout.m + s_at) * kLog2e;
    l[j] = __ldcg(scratch + layout.l + s_at);
  }
  __syncthreads();
  if (tid < 32) {
    float big_m = negative_infinity();
    for (int j = static_cast<int>(lane); j < n; j += 32) {
      if (l[j] > 0.0F) big_m = fmaxf(big_m, w[j]);
    }
    big_m = warp_max(big_m);
    float den = 0.0F;
    for (int j = static_cast<int>(lane); j < n; j += 32) {
      const float weight = l[j] > 0.0F ? exp2_approx(w[j] - big_m) : 0.0F;
      w[j] = weight;
      den = fmaf(weight, l[j], den);
    }
    den = warp_sum(den);
    if (lane == 0) *den_shared = den;
  }
  __syncthreads();
  float num = 0.0F;
  for (;;) {
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
      if (j0 + u < n) num = fmaf(w[j0 + u], v[u], num);
    }
    j0 += kParts * kSplitsInFlight;
    if (j0 >= n) break;
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
      const int j = j0 + u;
      v[u] = j < n ? __ldcg(acc + std::uint64_t(j) * split_stride) : 0.0F;
    }
  }
  if constexpr (kParts > 1) {
    part_sum[tid] = num;
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int k = 1; k < kParts; ++k) num += part_sum[tid + k * D];
  }
  const float den = *den_shared;
  head_out[at] = den > 0.0F ? num / den : 0.0F;
}

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
  __threadfence();  // this thread's results are visible device-wide before the ticket
  __syncthreads();  // every thread's results are, and `shared` is free again
  unsigned* ticket = reinterpret_cast<unsigned*>(scratch + layout.tickets) + head;
  if (tid == 0) is_last = atomicAdd(ticket, 1U) == splits.active - 1 ? 1U : 0U;
  __syncthreads();
  if (is_last == 0U) return;
  __threadfence();  // order the other splits' results before this block's reads of them
  if (tid == 0) atomicExch(ticket, 0U);  // every active split has taken its ticket
  merge_head<D>(scratch, head_out, p, layout, head, splits.active, shared, &head_den);
}

}  // namespace

AttentionCudaKernels attention_cuda_kernels() {
  return {.split_hd64 = reinterpret_cast<const void*>(&attention_decode<64>),
          .split_hd128 = reinterpret_cast<const void*>(&attention_decode<128>)};
}

}  // namespace encore::ops::detail
