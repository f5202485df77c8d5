// CUDA decode attention + output projection in one dispatch (see attention_o.h for the phases
// and layouts; the attention of one item is attention_block.cuh's, as in attention.cu).
//
// Shared memory of a block: its rows of W_o (bf16, rows_per_block * q_dim), then f32 space
// used first for the attention reduction (kWarps * head_dim) and after the grid barrier for the
// splits' partial sums (n_splits * q_dim), x (q_dim), the merge weights and l of every split
// (2 * n_splits * n_heads) and each head's denominator (n_heads).
//
// PDL: the weight copy and the K/V prefetch come before the wait (weights are never written by
// the step; a prefetch moves nothing into the kernel). Dependents are triggered after the grid
// barrier, so a dependent's blocks never take the room a block of this grid still needs.

#include <cstdint>

#include "ops/attention/attention_block.cuh"
#include "ops/attention/attention_o.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

using namespace attention_block;  // NOLINT(google-build-using-namespace): this file's core

// Item `item`'s chunk of [0, kv_len): (head, split) and rows [begin, begin + len); len = 0 when
// the split is not active.
struct Item {
  std::uint32_t head;
  std::uint32_t begin;
  std::uint32_t len;
};

__device__ __forceinline__ Item item_of(const AttentionParams& a, const AttentionSplits& splits,
                                        std::uint32_t kv_len, std::uint32_t item) {
  const std::uint32_t s = item / a.n_heads;
  const std::uint32_t head = item % a.n_heads;
  if (kv_len == 0 || s >= splits.active) return {head, 0, 0};
  const std::uint32_t begin = s * splits.chunk;
  return {head, begin, min(kv_len, begin + splits.chunk) - begin};
}

// x (f32 [q_dim], shared) = every head's attention output, merged from the `active` splits in
// scratch. Shared memory: acc, active * q_dim floats (16-byte aligned); wt, l, 2 * active *
// n_heads; den, n_heads. Every partial result is asked for at once (the acc rows by cp.async
// straight into shared memory, through L2), so the merge costs one round trip to L2 rather than
// one per split and element.
template <int D>
__device__ __forceinline__ void merge_all_heads(const float* scratch,
                                                const AttentionScratchLayout& layout,
                                                const AttentionParams& a, std::uint32_t active,
                                                float* x, float* acc, float* wt, float* l,
                                                float* den) {
  const std::uint32_t n_heads = a.n_heads;
  const std::uint32_t q_dim = n_heads * D;
  const std::uint32_t partials = active * n_heads;
  {
    const float4* src = reinterpret_cast<const float4*>(scratch);
    float4* dst = reinterpret_cast<float4*>(acc);
    for (std::uint32_t i = threadIdx.x; i < active * q_dim / 4; i += kThreads) {
      cp_async_16(dst + i, src + i);
    }
    cp_async_commit();
  }
  for (std::uint32_t j = threadIdx.x; j < partials; j += kThreads) {
    wt[j] = __ldcg(scratch + layout.m + j);
    l[j] = __ldcg(scratch + layout.l + j);
  }
  __syncthreads();
  // The weight of split s of head h: 2^(m_s - M_h), M_h the max over splits with rows.
  for (std::uint32_t h = threadIdx.x; h < n_heads; h += kThreads) {
    float big_m = negative_infinity();
    for (std::uint32_t s = 0; s < active; ++s) {
      const std::uint32_t j = s * n_heads + h;
      if (l[j] > 0.0F) big_m = fmaxf(big_m, wt[j]);
    }
    float d = 0.0F;
    for (std::uint32_t s = 0; s < active; ++s) {
      const std::uint32_t j = s * n_heads + h;
      const float w = l[j] > 0.0F ? exp2_approx(wt[j] - big_m) : 0.0F;
      wt[j] = w;
      d = fmaf(w, l[j], d);
    }
    den[h] = d;
  }
  __syncthreads();
  cp_async_wait_all();  // this thread's acc copies (and its W_o copies, needed next anyway)
  __syncthreads();
  // acc of split s, element e of x: acc[s * q_dim + e] (item s * n_heads + h, dim e % D).
  for (std::uint32_t e = threadIdx.x; e < q_dim; e += kThreads) {
    const std::uint32_t h = e / D;
    float num = 0.0F;
    for (std::uint32_t s = 0; s < active; ++s)
      num = fmaf(wt[s * n_heads + h], acc[s * q_dim + e], num);
    x[e] = den[h] > 0.0F ? num / den[h] : 0.0F;
  }
  __syncthreads();
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    attention_o_decode(const float* __restrict__ q, const std::uint16_t* __restrict__ k_cache,
                       const std::uint16_t* __restrict__ v_cache,
                       const std::uint16_t* __restrict__ w, float* __restrict__ y,
                       float* __restrict__ scratch, AttentionOParams p, std::uint32_t kv_len) {
  extern __shared__ uint4 shared_w[];  // this block's rows of W_o, then f32 space
  __shared__ float warp_m[kWarps];
  __shared__ float warp_l[kWarps];
  const AttentionParams& a = p.attention;
  const std::uint32_t q_dim = a.n_heads * D;
  const std::uint32_t vectors = q_dim / 8;  // 16-byte vectors per row of W_o
  const std::uint32_t row0 = blockIdx.x * p.rows_per_block;
  const std::uint32_t my_rows = row0 < p.rows ? min(p.rows_per_block, p.rows - row0) : 0;
  float* shared_f = reinterpret_cast<float*>(shared_w + std::uint64_t{p.rows_per_block} * vectors);

  // 1. Before the wait: this block's rows of W_o into shared memory, its K/V rows into L2.
  {
    const uint4* src = reinterpret_cast<const uint4*>(w) + std::uint64_t{row0} * vectors;
    const std::uint32_t n = my_rows * vectors;
    for (std::uint32_t i = threadIdx.x; i < n; i += kThreads) cp_async_16(shared_w + i, src + i);
    cp_async_commit();
  }
  if (kv_len > a.max_ctx) kv_len = a.max_ctx;
  const AttentionSplits splits = attention_split_plan(a, kv_len);
  const std::uint32_t row_stride = a.n_kv_heads * D;
  const std::uint32_t group = a.n_heads / a.n_kv_heads;
  const std::uint32_t items = a.n_splits * a.n_heads;
  for (std::uint32_t item = blockIdx.x; item < items; item += gridDim.x) {
    const Item it = item_of(a, splits, kv_len, item);
    if (it.len > 0)
      prefetch_chunk<D>(k_cache, v_cache, it.head / group, it.begin, it.len, row_stride);
  }
  pdl_wait();

  // 2. The attention of this block's items, into the scratch.
  const AttentionScratchLayout layout = attention_scratch_layout(a);
  for (std::uint32_t item = blockIdx.x; item < items; item += gridDim.x) {
    const Item it = item_of(a, splits, kv_len, item);
    if (it.len == 0) continue;  // the same for the whole block
    const BlockAttention r =
        block_attend<D>(q + std::uint64_t{it.head} * D, k_cache, v_cache, it.head / group, it.begin,
                        it.len, row_stride, a.scale, shared_f, warp_m, warp_l);
    float* acc = scratch + std::uint64_t{item} * D;
    for (int at = static_cast<int>(threadIdx.x); at < D; at += kThreads) {
      acc[at] = r.weighted_sum<D>(shared_f, at);
    }
    if (threadIdx.x == 0) {
      scratch[layout.m + item] = r.m;
      scratch[layout.l + item] = r.l;
    }
    __syncthreads();  // shared_f and warp_m/l are the next item's
  }

  // 3. Every item is in the scratch: x into shared memory, then this block's rows of y.
  grid_barrier(reinterpret_cast<unsigned*>(scratch) + layout.words);
  pdl_launch_dependents();
  const std::uint32_t active = kv_len == 0 ? 0 : splits.active;
  float* acc = shared_f;
  float* x = acc + active * q_dim;
  float* wt = x + q_dim;
  float* l = wt + active * a.n_heads;
  float* den = l + active * a.n_heads;
  merge_all_heads<D>(scratch, layout, a, active, x, acc, wt, l, den);

  const unsigned lane = threadIdx.x & 31U;
  const float4* x4 = reinterpret_cast<const float4*>(x);
  for (std::uint32_t r = threadIdx.x >> 5; r < my_rows; r += kWarps) {
    const uint4* row = shared_w + std::uint64_t{r} * vectors;
    float acc = 0.0F;
    for (std::uint32_t v = lane; v < vectors; v += 32) {
      acc += bf16x8_dot(row[v], x4[2 * v], x4[2 * v + 1]);
    }
    acc = warp_sum(acc);
    if (lane == 0) y[row0 + r] = acc;
  }
}

}  // namespace

AttentionOCudaKernels attention_o_cuda_kernels() {
  return {.hd64 = reinterpret_cast<const void*>(&attention_o_decode<64>),
          .hd128 = reinterpret_cast<const void*>(&attention_o_decode<128>)};
}

}  // namespace encore::ops::detail
