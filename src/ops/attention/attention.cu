// CUDA decode attention (see attention.h for the algorithm and layouts).
//
// One q head per block, 128 threads: a K or V row of head_dim bf16 is read by head_dim / 8
// lanes, 16 bytes each, so a warp reads 2 (hd128) or 4 (hd64) rows per load and the block 8 or
// 16 rows per pass; kAttentionLoadPasses passes are loaded before any is used, so a split of up
// to 64 (hd64) or 32 (hd128) rows (attention_batch_rows) costs one round trip to memory per
// phase. Loop trip counts are uniform across the block (rows past the chunk load zeros),
// because the reductions use full-warp shuffles.
// Why one head per block: the work of a decode step's attention is small and made of short
// dependent chains (dot, shuffle reduction, softmax, accumulation). A block per kv head serving
// its whole GQA group ran 4 warps per SM on a few SMs, each warp issuing every few cycles for
// ~20 us; a block per q head spreads the same chains over n_heads times the blocks. The group's
// blocks read the same K/V rows, from L2 after the first.
// Shared memory (dynamic): the chunk's scores [capacity], turned into exp(score - m) in place,
// then reused for the cross-warp sum of the accumulators, then for the merge's (m, l) pairs
// ([active] each; m becomes the weight e^(m - M) in place) and partial sums.
//
// Memory ordering of the merge: every thread fences its scratch writes before the block takes
// its ticket; the block that takes the last ticket fences again and reads the other splits'
// results through L2 (ld.global.cg), never through a possibly stale L1 line.
//
// PDL: inactive blocks exit before touching memory (split 0 is always active and waits, so the
// grid never completes before its predecessor); active blocks prefetch their K and V rows into
// L2, wait before reading q or the cache, and trigger dependents right after (the dependent, the
// o gemv, then loads its weights while this kernel runs).

#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

constexpr int kThreads = static_cast<int>(kAttentionThreads);
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = static_cast<int>(kAttentionLoadPasses);
constexpr int kSplitsInFlight = 16;  // partial sums loaded together per output element (merge)

__device__ __forceinline__ float negative_infinity() { return -__int_as_float(0x7F800000); }

// One batch of this thread's cache rows: rows base + u * kRowSlots + slot for u < kUnroll, each
// its 16 bytes (zeros past the chunk, so every lane still takes part in the shuffles).
template <int kRowSlots>
__device__ __forceinline__ void load_batch(uint4 (&raw)[kUnroll], const std::uint16_t* rows,
                                           std::uint32_t base, int slot, std::uint32_t len,
                                           std::uint32_t row_stride) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const std::uint32_t t = base + u * kRowSlots + slot;
    raw[u] =
        t < len ? load_stream_16(rows + std::uint64_t{t} * row_stride) : make_uint4(0, 0, 0, 0);
  }
}

__device__ __forceinline__ void widen8(uint4 v, float (&out)[8]) {
  out[0] = bf16_lo(v.x);
  out[1] = bf16_hi(v.x);
  out[2] = bf16_lo(v.y);
  out[3] = bf16_hi(v.y);
  out[4] = bf16_lo(v.z);
  out[5] = bf16_hi(v.z);
  out[6] = bf16_lo(v.w);
  out[7] = bf16_hi(v.w);
}

// Merges the `active` splits of q head `head` from scratch into head_out (the last block).
// m_l: shared space for 2 * active + kThreads floats. Three steps, each at most one round trip
// for the usual split counts: every (m, l) at once into shared memory; the max M over splits
// with rows, the weights e^(m_s - M) (in place of m) and den = sum_s w_s l_s (warp 0); then
// each output element, its splits summed by kThreads / D threads with kSplitsInFlight loads
// in flight each.
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
  for (int j = tid; j < n; j += kThreads) {
    const std::uint64_t at = std::uint64_t(j) * p.n_heads + head;
    const float m = __ldcg(scratch + layout.m + at);
    const float lj = __ldcg(scratch + layout.l + at);
    w[j] = m;
    l[j] = lj;
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
      const float weight = l[j] > 0.0F ? expf(w[j] - big_m) : 0.0F;
      w[j] = weight;
      den = fmaf(weight, l[j], den);
    }
    den = warp_sum(den);
    if (lane == 0) *den_shared = den;
  }
  __syncthreads();
  const int at = tid % D;
  const int part = tid / D;
  const std::uint64_t split_stride = std::uint64_t{p.n_heads} * D;
  const float* acc = scratch + std::uint64_t{head} * D + at;
  float num = 0.0F;
  for (int j0 = part * kSplitsInFlight; j0 < n; j0 += kParts * kSplitsInFlight) {
    float v[kSplitsInFlight];
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
      const int j = j0 + u;
      v[u] = j < n ? __ldcg(acc + std::uint64_t(j) * split_stride) : 0.0F;
    }
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
      if (j0 + u < n) num = fmaf(w[j0 + u], v[u], num);
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
  constexpr int kLanesPerRow = D / 8;
  constexpr int kRowSlots = kThreads / kLanesPerRow;
  constexpr std::uint32_t kBatchRows = kRowSlots * kUnroll;
  extern __shared__ float shared[];
  __shared__ float head_m;
  __shared__ float head_l;
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
  {
    // One 128-byte line per prefetch; a row is D * 2 bytes (one or two lines).
    constexpr std::uint32_t kLinesPerRow = D * 2 / 128;
    const std::uint64_t first = std::uint64_t{begin} * row_stride + g * D;
    for (std::uint32_t i = tid; i < len * kLinesPerRow; i += kThreads) {
      const std::uint64_t at =
          first + std::uint64_t{i / kLinesPerRow} * row_stride + (i % kLinesPerRow) * 64;
      prefetch_l2(k_cache + at);
      prefetch_l2(v_cache + at);
    }
  }
  pdl_wait();
  pdl_launch_dependents();

  float* head_out = out + std::uint64_t{head} * D;
  if (kv_len == 0) {
    for (int at = static_cast<int>(tid); at < D; at += kThreads) head_out[at] = 0.0F;
    return;
  }
  const unsigned lane = tid & 31U;
  const unsigned warp = tid >> 5;
  const int slot = static_cast<int>(tid) / kLanesPerRow;
  const int sub = static_cast<int>(tid) % kLanesPerRow;  // dims [sub * 8, sub * 8 + 8)
  const std::uint16_t* k_base = k_cache + std::uint64_t{begin} * row_stride + g * D + sub * 8;
  const std::uint16_t* v_base = v_cache + std::uint64_t{begin} * row_stride + g * D + sub * 8;

  // q of this head, this thread's 8 dims, times the scale.
  float qv[8];
  {
    const float4* qh = reinterpret_cast<const float4*>(q + std::uint64_t{head} * D + sub * 8);
    const float4 a = qh[0];
    const float4 b = qh[1];
    qv[0] = a.x * p.scale;
    qv[1] = a.y * p.scale;
    qv[2] = a.z * p.scale;
    qv[3] = a.w * p.scale;
    qv[4] = b.x * p.scale;
    qv[5] = b.y * p.scale;
    qv[6] = b.z * p.scale;
    qv[7] = b.w * p.scale;
  }

  // Phase 1: scores[t] = (q * scale) . k_t.
  for (std::uint32_t base = 0; base < len; base += kBatchRows) {
    uint4 kraw[kUnroll];
    load_batch<kRowSlots>(kraw, k_base, base, slot, len, row_stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::uint32_t t = base + u * kRowSlots + slot;
      float k[8];
      widen8(kraw[u], k);
      float dot = 0.0F;
#pragma unroll
      for (int i = 0; i < 8; ++i) dot = fmaf(qv[i], k[i], dot);
#pragma unroll
      for (int offset = kLanesPerRow / 2; offset > 0; offset >>= 1) {
        dot += __shfl_xor_sync(0xFFFFFFFFU, dot, offset);
      }
      if (t < len && sub == 0) shared[t] = dot;
    }
  }
  __syncthreads();

  // Phase 2 (warp 0): m = max score, l = sum exp(score - m); scores become exp(score - m).
  if (warp == 0) {
    float m = negative_infinity();
    for (std::uint32_t t = lane; t < len; t += 32) m = fmaxf(m, shared[t]);
    m = warp_max(m);
    float l = 0.0F;
    for (std::uint32_t t = lane; t < len; t += 32) {
      const float e = expf(shared[t] - m);
      shared[t] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) {
      head_m = m;
      head_l = l;
    }
  }
  __syncthreads();

  // Phase 3: acc[i] = sum_t e_t v_t[i] over this thread's rows, then over the warp's rows.
  float acc[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) acc[i] = 0.0F;
  for (std::uint32_t base = 0; base < len; base += kBatchRows) {
    uint4 vraw[kUnroll];
    load_batch<kRowSlots>(vraw, v_base, base, slot, len, row_stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::uint32_t t = base + u * kRowSlots + slot;
      float v[8];
      widen8(vraw[u], v);
      const float e = t < len ? shared[t] : 0.0F;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[i] = fmaf(e, v[i], acc[i]);
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
#pragma unroll
    for (int offset = kLanesPerRow; offset < 32; offset <<= 1) {
      acc[i] += __shfl_xor_sync(0xFFFFFFFFU, acc[i], offset);
    }
  }
  __syncthreads();  // the scores are no longer read: reuse the space as [warp][D]
  if (lane < static_cast<unsigned>(kLanesPerRow)) {
#pragma unroll
    for (int i = 0; i < 8; ++i) shared[warp * D + sub * 8 + i] = acc[i];
  }
  __syncthreads();

  if (splits.active == 1) {  // the only split: normalise and write the output directly
    for (int at = static_cast<int>(tid); at < D; at += kThreads) {
      float sum = 0.0F;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sum += shared[w * D + at];
      head_out[at] = sum / head_l;
    }
    return;
  }

  const AttentionScratchLayout layout = attention_scratch_layout(p);
  float* acc_out = scratch + (std::uint64_t{s} * p.n_heads + head) * D;
  for (int at = static_cast<int>(tid); at < D; at += kThreads) {
    float sum = 0.0F;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += shared[w * D + at];
    acc_out[at] = sum;
  }
  if (tid == 0) {
    scratch[layout.m + std::uint64_t{s} * p.n_heads + head] = head_m;
    scratch[layout.l + std::uint64_t{s} * p.n_heads + head] = head_l;
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
