// CUDA decode attention (see attention.h for the algorithm and layouts).
//
// 128 threads per block: a K or V row of head_dim bf16 is read by head_dim / 8 lanes, 16 bytes
// each, so a warp reads 2 (hd128) or 4 (hd64) rows per load and the block 8 or 16 rows per
// pass; kUnroll passes are loaded before any is used, so a split of up to 64 (hd64) or 32
// (hd128) rows costs one round trip to memory per phase. Loop trip counts are uniform across the
// block (rows past the chunk load zeros), because the reductions use full-warp shuffles.
// Shared memory (dynamic): the chunk's scores [group][capacity], turned into exp(score - m) in
// place, then reused for the cross-warp sum of the accumulators, then for the merge weights.
//
// Memory ordering of the merge: every thread fences its scratch writes before the block takes
// its ticket; the block that takes the last ticket fences again and reads the other splits'
// results through L2 (ld.global.cg), never through a possibly stale L1 line.
//
// PDL: inactive blocks exit before touching memory (split 0 is always active and waits, so the
// grid never completes before its predecessor); active blocks wait before reading q or the cache
// and trigger dependents right after (the dependent, the o gemv, then loads its weights while
// this kernel runs).

#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

constexpr int kMaxGroup = static_cast<int>(kAttentionMaxGroup);
constexpr int kThreads = static_cast<int>(kAttentionThreads);
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;       // passes of rows loaded together
constexpr int kMergeUnroll = 8;  // splits loaded together per output element in the merge

__device__ __forceinline__ float negative_infinity() { return -__int_as_float(0x7F800000); }

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
template <int D>
__device__ void merge_splits(const float* scratch, float* group_out, const AttentionParams& p,
                             const AttentionScratchLayout& layout, std::uint64_t head0, int group,
                             std::uint32_t active, float* weights, float* head_den) {
  const unsigned tid = threadIdx.x;
  const unsigned lane = tid & 31U;
  const unsigned warp = tid >> 5;
  const float* m_all = scratch + layout.m;
  const float* l_all = scratch + layout.l;
  // Per q head (one warp each): M = max m_s over splits with rows, w_s = e^(m_s - M), and
  // den = sum_s w_s l_s; every lane loads its own splits' (m, l).
  for (int h = static_cast<int>(warp); h < group; h += kWarps) {
    const std::uint64_t head = head0 + h;
    float big_m = negative_infinity();
    for (std::uint32_t j = lane; j < active; j += 32) {
      const std::uint64_t at = std::uint64_t{j} * p.n_heads + head;
      if (__ldcg(l_all + at) > 0.0F) big_m = fmaxf(big_m, __ldcg(m_all + at));
    }
    big_m = warp_max(big_m);
    float den = 0.0F;
    for (std::uint32_t j = lane; j < active; j += 32) {
      const std::uint64_t at = std::uint64_t{j} * p.n_heads + head;
      const float l = __ldcg(l_all + at);
      const float w = l > 0.0F ? expf(__ldcg(m_all + at) - big_m) : 0.0F;
      weights[h * active + j] = w;
      den = fmaf(w, l, den);
    }
    den = warp_sum(den);
    if (lane == 0) head_den[h] = den;
  }
  __syncthreads();
  // Each output element: kMergeUnroll independent loads and FMA chains per round.
  const std::uint64_t split_stride = std::uint64_t{p.n_heads} * D;
  for (int at = static_cast<int>(tid); at < group * D; at += kThreads) {
    const int h = at / D;
    const float* w = weights + h * active;
    const float* acc = scratch + head0 * D + at;
    float sum[kMergeUnroll];
#pragma unroll
    for (int u = 0; u < kMergeUnroll; ++u) sum[u] = 0.0F;
    std::uint32_t j = 0;
    for (; j + kMergeUnroll <= active; j += kMergeUnroll) {
#pragma unroll
      for (int u = 0; u < kMergeUnroll; ++u) {
        sum[u] = fmaf(w[j + u], __ldcg(acc + (j + u) * split_stride), sum[u]);
      }
    }
    for (; j < active; ++j) sum[0] = fmaf(w[j], __ldcg(acc + j * split_stride), sum[0]);
    float num = 0.0F;
#pragma unroll
    for (int u = 0; u < kMergeUnroll; ++u) num += sum[u];
    const float den = head_den[h];
    group_out[at] = den > 0.0F ? num / den : 0.0F;
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
  pdl_wait();
  pdl_launch_dependents();

  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const std::uint64_t head0 = std::uint64_t{g} * group;
  float* group_out = out + head0 * D;
  const unsigned tid = threadIdx.x;
  if (kv_len == 0) {
    for (int at = static_cast<int>(tid); at < group * D; at += kThreads) group_out[at] = 0.0F;
    return;
  }
  const unsigned lane = tid & 31U;
  const unsigned warp = tid >> 5;
  const int slot = static_cast<int>(tid) / kLanesPerRow;
  const int sub = static_cast<int>(tid) % kLanesPerRow;  // dims [sub * 8, sub * 8 + 8)
  const std::uint32_t begin = s * splits.chunk;
  const std::uint32_t len = min(kv_len, begin + splits.chunk) - begin;
  const std::uint32_t row_stride = p.n_kv_heads * D;  // elements between positions
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

  // Phase 1: scores[h][t] = (q_h * scale) . k_t; the V rows are asked of L2 on the way.
  for (std::uint32_t base = 0; base < len; base += kBatchRows) {
    uint4 kraw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::uint32_t t = base + u * kRowSlots + slot;
      kraw[u] =
          t < len ? load_stream_16(k_base + std::uint64_t{t} * row_stride) : make_uint4(0, 0, 0, 0);
      if (t < len && sub % 8 == 0) prefetch_l2(v_base + std::uint64_t{t} * row_stride);
    }
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
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::uint32_t t = base + u * kRowSlots + slot;
      vraw[u] =
          t < len ? load_stream_16(v_base + std::uint64_t{t} * row_stride) : make_uint4(0, 0, 0, 0);
    }
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
