// CUDA decode attention (see attention.h for the algorithm and layouts).
//
// 128 threads per block: a K or V row of head_dim bf16 is read by head_dim / 8 lanes, 16 bytes
// each, so a warp reads 2 (hd128) or 4 (hd64) rows per load and the block 8 or 16 rows per
// pass; kAttentionLoadPasses passes are loaded before any is used, so a split of up to 64 (hd64)
// or 32 (hd128) rows (attention_batch_rows) costs one round trip to memory per phase. Loop trip
// counts are uniform across the block (rows past the chunk load zeros), because the reductions use
// full-warp shuffles.
//
// Shared memory (dynamic): the chunk's scores [group][capacity], turned into exp(score - m) in
// place, then reused for the cross-warp sum of the accumulators, then for the merge's (m, l)
// pairs ([group][active] each; m becomes the weight e^(m - M) in place).
//
// Memory ordering of the merge: every thread fences its scratch writes before the block takes
// its ticket; the block that takes the last ticket fences again and reads the other splits'
// results through L2 (ld.global.cg), never through a possibly stale L1 line.
//
// PDL: inactive blocks exit before touching memory (split 0 is always active and waits, so the
// grid never completes before its predecessor); active blocks prefetch their K and V rows into L2,
// wait before reading q or the cache, and trigger dependents right after (the dependent, the o
// gemv, then loads its weights while this kernel runs).

#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

constexpr int kMaxGroup = static_cast<int>(kAttentionMaxGroup);
constexpr int kThreads = static_cast<int>(kAttentionThreads);
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = static_cast<int>(kAttentionLoadPasses);

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

// Merges the `active` splits of kv head g's q heads from scratch into out (the last block).
// m_l: shared space for 2 * group * active floats. Three steps, each one round trip at most:
// every (m, l) of the group at once into shared memory; per q head (one warp each) the max M
// over splits with rows, the weights e^(m_s - M) (in place of m) and den = sum_s w_s l_s; then
// each thread's output elements, kSplitsInFlight splits' partial sums loaded per round.
template <int D>
__device__ void merge_splits(const float* scratch, float* group_out, const AttentionParams& p,
                             const AttentionScratchLayout& layout, std::uint64_t head0, int group,
                             std::uint32_t active, float* m_l, float* head_den) {
  constexpr int kPairLoads = 4;                     // (m, l) pairs per thread per round
  constexpr int kElems = kMaxGroup * D / kThreads;  // output elements per thread: 4 or 8
  constexpr int kSplitsInFlight = 64 / kElems;      // 16 (hd64) or 8 (hd128)
  const int tid = static_cast<int>(threadIdx.x);
  const unsigned lane = threadIdx.x & 31U;
  const int warp = tid >> 5;
  const int n = static_cast<int>(active);
  const int pairs = group * n;
  float* w_all = m_l;          // [group][active]: m, then the weight
  float* l_all = m_l + pairs;  // [group][active]
  for (int base = 0; base < pairs; base += kThreads * kPairLoads) {
    float m[kPairLoads];
    float l[kPairLoads];
#pragma unroll
    for (int u = 0; u < kPairLoads; ++u) {
      const int i = base + u * kThreads + tid;
      m[u] = 0.0F;
      l[u] = 0.0F;
      if (i < pairs) {
        const int h = i / n;
        const std::uint64_t at = std::uint64_t(i - h * n) * p.n_heads + head0 + h;
        m[u] = __ldcg(scratch + layout.m + at);
        l[u] = __ldcg(scratch + layout.l + at);
      }
    }
#pragma unroll
    for (int u = 0; u < kPairLoads; ++u) {
      const int i = base + u * kThreads + tid;
      if (i < pairs) {
        w_all[i] = m[u];
        l_all[i] = l[u];
      }
    }
  }
  __syncthreads();
  for (int h = warp; h < group; h += kWarps) {
    float* w = w_all + h * n;
    const float* l = l_all + h * n;
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
    if (lane == 0) head_den[h] = den;
  }
  __syncthreads();
  const int elems = group * D;
  const std::uint64_t split_stride = std::uint64_t{p.n_heads} * D;
  const float* acc = scratch + head0 * D;
  float num[kElems];
#pragma unroll
  for (int k = 0; k < kElems; ++k) num[k] = 0.0F;
  for (int j0 = 0; j0 < n; j0 += kSplitsInFlight) {
    float v[kSplitsInFlight][kElems];
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
#pragma unroll
      for (int k = 0; k < kElems; ++k) {
        const int at = tid + k * kThreads;
        const int j = j0 + u;
        v[u][k] = at < elems && j < n ? __ldcg(acc + std::uint64_t(j) * split_stride + at) : 0.0F;
      }
    }
#pragma unroll
    for (int u = 0; u < kSplitsInFlight; ++u) {
#pragma unroll
      for (int k = 0; k < kElems; ++k) {
        const int at = tid + k * kThreads;
        const int j = j0 + u;
        if (at < elems && j < n) num[k] = fmaf(w_all[(at / D) * n + j], v[u][k], num[k]);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kElems; ++k) {
    const int at = tid + k * kThreads;
    if (at < elems) {
      const float den = head_den[at / D];
      group_out[at] = den > 0.0F ? num[k] / den : 0.0F;
    }
  }
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
  __shared__ float head_m[kMaxGroup];
  __shared__ float head_l[kMaxGroup];
  __shared__ float head_den[kMaxGroup];
  __shared__ unsigned is_last;

  const std::uint32_t g = blockIdx.x;
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

  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const std::uint64_t head0 = std::uint64_t{g} * group;
  float* group_out = out + head0 * D;
  if (kv_len == 0) {
    for (int at = static_cast<int>(tid); at < group * D; at += kThreads) group_out[at] = 0.0F;
    return;
  }
  const unsigned lane = tid & 31U;
  const unsigned warp = tid >> 5;
  const int slot = static_cast<int>(tid) / kLanesPerRow;
  const int sub = static_cast<int>(tid) % kLanesPerRow;  // dims [sub * 8, sub * 8 + 8)
  const std::uint16_t* k_base = k_cache + std::uint64_t{begin} * row_stride + g * D + sub * 8;
  const std::uint16_t* v_base = v_cache + std::uint64_t{begin} * row_stride + g * D + sub * 8;

  // q of every head of the group, this thread's 8 dims, times the scale.
  float qv[kMaxGroup][8];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h < group) {
      const float4* qh = reinterpret_cast<const float4*>(q + (head0 + h) * D + sub * 8);
      const float4 a = qh[0];
      const float4 b = qh[1];
      qv[h][0] = a.x * p.scale;
      qv[h][1] = a.y * p.scale;
      qv[h][2] = a.z * p.scale;
      qv[h][3] = a.w * p.scale;
      qv[h][4] = b.x * p.scale;
      qv[h][5] = b.y * p.scale;
      qv[h][6] = b.z * p.scale;
      qv[h][7] = b.w * p.scale;
    }
  }

  // Phase 1: scores[h][t] = (q_h * scale) . k_t.
  for (std::uint32_t base = 0; base < len; base += kBatchRows) {
    uint4 kraw[kUnroll];
    load_batch<kRowSlots>(kraw, k_base, base, slot, len, row_stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::uint32_t t = base + u * kRowSlots + slot;
      float k[8];
      widen8(kraw[u], k);
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h < group) {
          float dot = 0.0F;
#pragma unroll
          for (int i = 0; i < 8; ++i) dot = fmaf(qv[h][i], k[i], dot);
#pragma unroll
          for (int offset = kLanesPerRow / 2; offset > 0; offset >>= 1) {
            dot += __shfl_xor_sync(0xFFFFFFFFU, dot, offset);
          }
          if (t < len && sub == 0) shared[h * p.chunk_capacity + t] = dot;
        }
      }
    }
  }
  __syncthreads();

  // Phase 2: per head, m = max score, l = sum exp(score - m); scores become exp(score - m).
  for (int h = static_cast<int>(warp); h < group; h += kWarps) {
    float* sc = shared + h * p.chunk_capacity;
    float m = negative_infinity();
    for (std::uint32_t t = lane; t < len; t += 32) m = fmaxf(m, sc[t]);
    m = warp_max(m);
    float l = 0.0F;
    for (std::uint32_t t = lane; t < len; t += 32) {
      const float e = expf(sc[t] - m);
      sc[t] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) {
      head_m[h] = m;
      head_l[h] = l;
    }
  }
  __syncthreads();

  // Phase 3: acc[h][i] = sum_t e_t v_t[i] over this thread's rows, then over the warp's rows.
  float acc[kMaxGroup][8];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[h][i] = 0.0F;
  }
  for (std::uint32_t base = 0; base < len; base += kBatchRows) {
    uint4 vraw[kUnroll];
    load_batch<kRowSlots>(vraw, v_base, base, slot, len, row_stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::uint32_t t = base + u * kRowSlots + slot;
      float v[8];
      widen8(vraw[u], v);
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h < group) {
          const float e = t < len ? shared[h * p.chunk_capacity + t] : 0.0F;
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[h][i] = fmaf(e, v[i], acc[h][i]);
        }
      }
    }
  }
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h < group) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int offset = kLanesPerRow; offset < 32; offset <<= 1) {
          acc[h][i] += __shfl_xor_sync(0xFFFFFFFFU, acc[h][i], offset);
        }
      }
    }
  }
  __syncthreads();  // the scores are no longer read: reuse the space as [warp][h][D]
  if (lane < static_cast<unsigned>(kLanesPerRow)) {
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h < group) {
#pragma unroll
        for (int i = 0; i < 8; ++i) shared[(warp * group + h) * D + sub * 8 + i] = acc[h][i];
      }
    }
  }
  __syncthreads();

  if (splits.active == 1) {  // the only split: normalise and write the output directly
    for (int at = static_cast<int>(tid); at < group * D; at += kThreads) {
      float sum = 0.0F;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sum += shared[w * group * D + at];
      group_out[at] = sum / head_l[at / D];
    }
    return;
  }

  const AttentionScratchLayout layout = attention_scratch_layout(p);
  float* acc_out = scratch + (std::uint64_t{s} * p.n_heads + head0) * D;
  for (int at = static_cast<int>(tid); at < group * D; at += kThreads) {
    float sum = 0.0F;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += shared[w * group * D + at];
    acc_out[at] = sum;
  }
  if (tid < static_cast<unsigned>(group)) {
    scratch[layout.m + std::uint64_t{s} * p.n_heads + head0 + tid] = head_m[tid];
    scratch[layout.l + std::uint64_t{s} * p.n_heads + head0 + tid] = head_l[tid];
  }
  __threadfence();  // this thread's results are visible device-wide before the ticket
  __syncthreads();  // every thread's results are, and `shared` is free again
  unsigned* ticket = reinterpret_cast<unsigned*>(scratch + layout.tickets) + g;
  if (tid == 0) is_last = atomicAdd(ticket, 1U) == splits.active - 1 ? 1U : 0U;
  __syncthreads();
  if (is_last == 0U) return;
  __threadfence();  // order the other splits' results before this block's reads of them
  merge_splits<D>(scratch, group_out, p, layout, head0, group, splits.active, shared, head_den);
  if (tid == 0) atomicExch(ticket, 0U);  // every active split has taken its ticket
}

}  // namespace

AttentionCudaKernels attention_cuda_kernels() {
  return {.split_hd64 = reinterpret_cast<const void*>(&attention_decode<64>),
          .split_hd128 = reinterpret_cast<const void*>(&attention_decode<128>)};
}

}  // namespace encore::ops::detail
