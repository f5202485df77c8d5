// CUDA decode attention (see attention.h for the algorithm and layouts).
//
// Split kernel, 128 threads: a K or V row of head_dim bf16 is read by head_dim / 8 lanes, 16
// bytes each, so a warp reads 2 (hd128) or 4 (hd64) rows per load and the block 8 or 16 rows.
// Loop trip counts are uniform across the block (rows past the chunk load zeros), because the
// reductions use full-warp shuffles. Shared memory (dynamic): the chunk's scores [group][cap],
// turned into exp(score - m) in place, then reused for the cross-warp sum of the accumulators.

#include <cstdint>

#include "ops/attention/attention.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

constexpr int kMaxGroup = static_cast<int>(kAttentionMaxGroup);
constexpr int kThreads = static_cast<int>(kAttentionThreads);
constexpr int kWarps = kThreads / 32;

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

template <int D>
__global__ void __launch_bounds__(kThreads)
    attention_split(const float* __restrict__ q, const std::uint16_t* __restrict__ k_cache,
                    const std::uint16_t* __restrict__ v_cache, float* __restrict__ scratch,
                    AttentionParams p, std::uint32_t kv_len) {
  constexpr int kLanesPerRow = D / 8;
  constexpr int kRowSlots = kThreads / kLanesPerRow;
  extern __shared__ float shared[];
  pdl_wait();

  const std::uint32_t g = blockIdx.x;
  const std::uint32_t s = blockIdx.y;
  const int group = static_cast<int>(p.n_heads / p.n_kv_heads);
  const unsigned tid = threadIdx.x;
  const unsigned lane = tid & 31U;
  const unsigned warp = tid >> 5;
  const int slot = static_cast<int>(tid) / kLanesPerRow;
  const int sub = static_cast<int>(tid) % kLanesPerRow;  // dims [sub * 8, sub * 8 + 8)

  if (kv_len > p.max_ctx) kv_len = p.max_ctx;
  const std::uint32_t chunk = (kv_len + p.n_splits - 1) / p.n_splits;
  const std::uint32_t begin = min(kv_len, s * chunk);
  const std::uint32_t end = min(kv_len, begin + chunk);
  const std::uint64_t ml_base = std::uint64_t{s} * p.n_heads + std::uint64_t{g} * group;
  float* m_out = scratch + std::uint64_t{p.n_splits} * p.n_heads * D;
  float* l_out = m_out + std::uint64_t{p.n_splits} * p.n_heads;
  if (begin >= end) {
    pdl_launch_dependents();
    if (tid < static_cast<unsigned>(group)) {
      m_out[ml_base + tid] = negative_infinity();
      l_out[ml_base + tid] = 0.0F;
    }
    return;
  }
  const std::uint32_t len = end - begin;
  const std::uint32_t row_stride = p.n_kv_heads * D;  // elements between positions

  // q of every head of the group, this thread's 8 dims.
  float qv[kMaxGroup][8];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h < group) {
      const float4* qh =
          reinterpret_cast<const float4*>(q + (std::uint64_t{g} * group + h) * D + sub * 8);
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

  // Phase 1: scores[h][t - begin] = (q_h * scale) . k_t
  const std::uint16_t* k_base = k_cache + std::uint64_t{g} * D + sub * 8;
  for (std::uint32_t base = 0; base < len; base += kRowSlots) {
    const std::uint32_t t = base + slot;
    const bool valid = t < len;
    float k[8];
    widen8(valid ? load_stream_16(k_base + std::uint64_t{begin + t} * row_stride)
                 : make_uint4(0, 0, 0, 0),
           k);
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
        if (valid && sub == 0) shared[h * p.chunk_capacity + t] = dot;
      }
    }
  }
  __syncthreads();

  // Phase 2: per head, m = max score, l = sum exp(score - m); scores become exp(score - m).
  __shared__ float head_m[kMaxGroup];
  __shared__ float head_l[kMaxGroup];
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
  const std::uint16_t* v_base = v_cache + std::uint64_t{g} * D + sub * 8;
  for (std::uint32_t base = 0; base < len; base += kRowSlots) {
    const std::uint32_t t = base + slot;
    const bool valid = t < len;
    float v[8];
    widen8(valid ? load_stream_16(v_base + std::uint64_t{begin + t} * row_stride)
                 : make_uint4(0, 0, 0, 0),
           v);
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h < group) {
        const float e = valid ? shared[h * p.chunk_capacity + t] : 0.0F;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[h][i] = fmaf(e, v[i], acc[h][i]);
      }
    }
  }
  pdl_launch_dependents();
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
  float* acc_out = scratch + ml_base * D;
  for (int at = static_cast<int>(tid); at < group * D; at += kThreads) {
    float sum = 0.0F;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += shared[w * group * D + at];
    acc_out[at] = sum;
  }
  if (tid < static_cast<unsigned>(group)) {
    m_out[ml_base + tid] = head_m[tid];
    l_out[ml_base + tid] = head_l[tid];
  }
}

// One block per q head, head_dim threads (one per output element).
__global__ void attention_combine_f32(const float* __restrict__ scratch, float* __restrict__ out,
                                      AttentionParams p) {
  pdl_wait();
  const std::uint32_t head = blockIdx.x;
  const std::uint32_t d = p.head_dim;
  const float* acc = scratch;
  const float* m = scratch + std::uint64_t{p.n_splits} * p.n_heads * d;
  const float* l = m + std::uint64_t{p.n_splits} * p.n_heads;
  float big_m = negative_infinity();
  for (std::uint32_t s = 0; s < p.n_splits; ++s) {
    const std::uint64_t ml = std::uint64_t{s} * p.n_heads + head;
    if (l[ml] > 0.0F) big_m = fmaxf(big_m, m[ml]);
  }
  float num = 0.0F;
  float den = 0.0F;
  for (std::uint32_t s = 0; s < p.n_splits; ++s) {
    const std::uint64_t ml = std::uint64_t{s} * p.n_heads + head;
    const float ls = l[ml];
    if (!(ls > 0.0F)) continue;
    const float w = expf(m[ml] - big_m);
    den = fmaf(w, ls, den);
    if (threadIdx.x < d) num = fmaf(w, acc[ml * d + threadIdx.x], num);
  }
  pdl_launch_dependents();
  if (threadIdx.x < d) out[std::uint64_t{head} * d + threadIdx.x] = den > 0.0F ? num / den : 0.0F;
}

}  // namespace

AttentionCudaKernels attention_cuda_kernels() {
  return {.split_hd64 = reinterpret_cast<const void*>(&attention_split<64>),
          .split_hd128 = reinterpret_cast<const void*>(&attention_split<128>),
          .combine = reinterpret_cast<const void*>(&attention_combine_f32)};
}

}  // namespace encore::ops::detail
