// CUDA decode attention + output projection in one dispatch (see attention_o.h for the phases
// and layouts; the attention of one item is attention_block.cuh's, as in attention.cu).
//
// Shared memory of a block: its rows of W_o (bf16, rows_per_block * q_dim), then f32 space
// used first for the attention reduction (kWarps * head_dim), by a merging block for the merge
// (2 * n_splits + kThreads) and after the grid barrier for x (q_dim).
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

template <int D>
__global__ void __launch_bounds__(kThreads)
    attention_o_decode(const float* __restrict__ q, const std::uint16_t* __restrict__ k_cache,
                       const std::uint16_t* __restrict__ v_cache,
                       const std::uint16_t* __restrict__ w, float* __restrict__ y,
                       float* __restrict__ scratch, AttentionOParams p, std::uint32_t kv_len) {
  extern __shared__ uint4 shared_w[];  // this block's rows of W_o, then f32 space
  __shared__ float warp_m[kWarps];
  __shared__ float warp_l[kWarps];
  __shared__ float head_den;
  __shared__ unsigned is_last;
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
  ENCORE_TIMELINE_EXIT;

  // 2. The attention of this block's items; the last split of a head to finish merges the
  //    head into x (in the scratch), as attention_decode's splits do.
  const AttentionScratchLayout layout = attention_scratch_layout(a);
  float* x_out = scratch + attention_o_x_offset(layout);
  for (std::uint32_t item = blockIdx.x; item < items; item += gridDim.x) {
    const Item it = item_of(a, splits, kv_len, item);
    if (it.len == 0) continue;  // the same for the whole block
    const BlockAttention r =
        block_attend<D>(q + std::uint64_t{it.head} * D, k_cache, v_cache, it.head / group, it.begin,
                        it.len, row_stride, a.scale, shared_f, warp_m, warp_l);
    float* head_x = x_out + std::uint64_t{it.head} * D;
    if (splits.active == 1) {  // the only split: normalise and write x directly
      for (int at = static_cast<int>(threadIdx.x); at < D; at += kThreads) {
        head_x[at] = r.weighted_sum<D>(shared_f, at) / r.l;
      }
    } else {
      ticket_merge_split<D>(scratch, a, layout, r, shared_f, it.head, item, splits.active, head_x,
                            &is_last, &head_den);
    }
    __syncthreads();  // shared_f and warp_m/l are the next item's
  }

  // 3. x is complete once every block has arrived: x into shared memory (one round trip to
  //    L2), then this block's rows of y.
  const std::uint32_t q_dim4 = q_dim / 4;
  grid_barrier(reinterpret_cast<unsigned*>(x_out + q_dim));
  ENCORE_TIMELINE_MARK(Mark);  // past the grid barrier
  pdl_launch_dependents();
  float* x = shared_f;
  {
    const float4* src = reinterpret_cast<const float4*>(x_out);
    float4* dst = reinterpret_cast<float4*>(x);
    for (std::uint32_t i = threadIdx.x; i < q_dim4; i += kThreads) {
      dst[i] = kv_len == 0 ? make_float4(0.0F, 0.0F, 0.0F, 0.0F) : __ldcg(src + i);
    }
  }
  cp_async_wait_all();  // this thread's W_o copies
  __syncthreads();      // everyone's, and x
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
