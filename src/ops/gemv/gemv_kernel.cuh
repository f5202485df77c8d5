#pragma once

// The device body of every gemv family (see gemv.h for the families and the variant layout),
// written for memory bandwidth:
//  - each lane loads 16-byte weight vectors (8 bf16) with ld.global.nc.L1::no_allocate, so the
//    streamed weights never evict x from L1, with a 256-byte L2 prefetch hint;
//  - 8 independent weight loads per lane per batch (8 / rows-per-group vectors of each weight
//    row) are issued before any of them is used, and each vector's dot product starts its own
//    FMA chain; x (f32) is read as two float4 per vector through L1 (or shared memory), with
//    coherent loads (load_step: it is the previous dispatch's output);
//  - PDL: weights are never written by the step, so the first batch is loaded into registers
//    (and the second asked of L2) *before* griddepcontrol.wait; x, a, b and everything written
//    come after it. A kernel launched early while its predecessor runs therefore has its first
//    weights on chip when the wait returns (for the decode step's medium matrices that is most
//    of the matrix). So are the other step-invariant inputs: the norm weight (copied into
//    shared memory beside x) and the epilogue's bias and rope frequencies (registers), which a
//    step has evicted from L2 by the next use and which would otherwise cost DRAM round trips
//    on the critical path. Dependents are triggered before the wait (cuda_common.cuh): their
//    own pre-wait part is weight loads too;
//  - partial sums are reduced with warp shuffles, then (split-K variants) through shared memory.
// Rows past `rows` in the last block are clamped to the last row for loading and never stored.

#include <cstdint>

#include "ops/bf16.h"
#include "ops/cuda_common.cuh"
#include "ops/gemv/gemv.h"
#include "ops/rope/rope_turn.cuh"

namespace encore::ops::detail {

/// Pointers and sizes of one gemv launch; unused members are null.
struct GemvArgs {
  const std::uint16_t* w;
  const float* x;  ///< x, or the first addend a (AddNorm)
  const float* b;  ///< AddNorm: the second addend
  const float* norm_w;
  float* sum;  ///< AddNorm: a + b, written by block 0
  const float* bias;
  float* y;            ///< y, or q (rope outputs)
  std::uint32_t rows;  ///< output rows (pairs for the paired outputs)
  std::uint32_t cols;
  float eps;
  // Rope outputs.
  std::uint16_t* k_cache;
  std::uint16_t* v_cache;
  const float* inv_freq;
  std::uint32_t pos;
  RopeKvParams rope;
};

// silu(g) * u, written as silu_mul_f32 writes it.
__device__ __forceinline__ float gemv_silu_mul(float g, float u) {
  return g / (1.0F + expf(-g)) * u;
}

// Step-invariant inputs of one output row's epilogue (its bias, its rope frequency). They are
// loaded with the row's weights, before the PDL wait for a block's first row group, so that the
// store after the dot products waits on no memory: a layer's few KiB of them have left L2 since
// the step before, and after the wait the memory queues are full of the next kernels' weights.
struct GemvEpilogue {
  float bias[2];   ///< the row's bias (Bias), or its pair's two (RopeKvBias)
  float inv_freq;  ///< the pair's rope frequency (rope outputs)
};

// Weight vectors v0 + u * kStep (u < kBatch) of each of the WR rows. kChecked: vectors at or
// past `vectors` load as zero.
template <int WR, int kBatch, std::uint32_t kStep, bool kChecked>
__device__ __forceinline__ void gemv_load(uint4 (&wv)[kBatch][WR], const uint4* const (&wrow)[WR],
                                          std::uint32_t v0, std::uint32_t vectors) {
#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
    const std::uint32_t v = v0 + u * kStep;
    const bool valid = !kChecked || v < vectors;
#pragma unroll
    for (int r = 0; r < WR; ++r) {
      wv[u][r] = valid ? load_stream_16(wrow[r] + v) : make_uint4(0, 0, 0, 0);
    }
  }
}

// x4[i]: x in shared memory (kSharedX: the norm families), or the earlier dispatch's output.
template <bool kSharedX>
__device__ __forceinline__ float4 gemv_x(const float4* x4, std::uint32_t i) {
  if constexpr (kSharedX) {
    return x4[i];
  } else {
    return load_step(x4 + i);
  }
}

// acc[r] += the batch's vectors of row r times x.
template <int WR, int kBatch, std::uint32_t kStep, bool kChecked, bool kSharedX>
__device__ __forceinline__ void gemv_consume(const uint4 (&wv)[kBatch][WR], const float4* x4,
                                             std::uint32_t v0, std::uint32_t vectors,
                                             float (&acc)[WR]) {
#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
    const std::uint32_t v = v0 + u * kStep;
    const bool valid = !kChecked || v < vectors;
    const float4 xa = valid ? gemv_x<kSharedX>(x4, 2 * v) : make_float4(0, 0, 0, 0);
    const float4 xb = valid ? gemv_x<kSharedX>(x4, 2 * v + 1) : make_float4(0, 0, 0, 0);
#pragma unroll
    for (int r = 0; r < WR; ++r) acc[r] += bf16x8_dot(wv[u][r], xa, xb);
  }
}

// Norm families, before the PDL wait: norm_w (a weight) into shared memory beside x, where both
// fit (gemv_norm_w_preloaded), each thread copying the float4s it scales in
// gemv_input. The prologue then waits on L2 for a and b only, not on DRAM for norm_w too.
template <GemvInput In>
__device__ __forceinline__ void gemv_preload_norm_w(const GemvArgs& args, float* xs) {
  if constexpr (In != GemvInput::X) {
    if (!gemv_norm_w_preloaded(args.cols)) return;
    const std::uint32_t n4 = args.cols / 4;
    for (std::uint32_t i = threadIdx.x; i < n4; i += blockDim.x) {
      cp_async_16(xs + args.cols + 4 * i, args.norm_w + 4 * i);
    }
    cp_async_commit();
  }
}

// x of the launch: the x argument, or (norm families) rms_norm(a [+ b]) * norm_w formed by the
// block in `xs` (cols floats of shared memory, then norm_w where gemv_preload_norm_w put it),
// block 0 also writing a + b to sum. Every thread of the block calls it (it synchronises the
// block). Same arithmetic as the norm kernels:
// v = a + b, squares summed with fmaf, scale = rsqrt(mean + eps), x = (v * scale) * w.
template <GemvInput In>
__device__ __forceinline__ const float* gemv_input(const GemvArgs& args, float* xs) {
  if constexpr (In == GemvInput::X) {
    return args.x;
  } else {
    const std::uint32_t n4 = args.cols / 4;
    const float4* a4 = reinterpret_cast<const float4*>(args.x);
    float4* x4 = reinterpret_cast<float4*>(xs);
    float squares = 0.0F;
    for (std::uint32_t i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = load_step(a4 + i);
      if constexpr (In == GemvInput::AddNorm) {
        const float4 b = load_step(reinterpret_cast<const float4*>(args.b) + i);
        v.x += b.x;
        v.y += b.y;
        v.z += b.z;
        v.w += b.w;
        if (blockIdx.x == 0) reinterpret_cast<float4*>(args.sum)[i] = v;
      }
      x4[i] = v;
      squares = fmaf(v.x, v.x, squares);
      squares = fmaf(v.y, v.y, squares);
      squares = fmaf(v.z, v.z, squares);
      squares = fmaf(v.w, v.w, squares);
    }
    const float scale = rsqrtf(block_sum(squares) / static_cast<float>(args.cols) + args.eps);
    const bool preloaded = gemv_norm_w_preloaded(args.cols);
    if (preloaded) cp_async_wait_all();  // this thread's copies: the float4s it reads below
    const float4* w4 = reinterpret_cast<const float4*>(preloaded ? xs + args.cols : args.norm_w);
    for (std::uint32_t i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = x4[i];
      const float4 w = w4[i];
      v.x = v.x * scale * w.x;
      v.y = v.y * scale * w.y;
      v.z = v.z * scale * w.z;
      v.w = v.w * scale * w.w;
      x4[i] = v;
    }
    __syncthreads();
    return xs;
  }
}

// The two weight rows of output pair `row` of a paired output.
template <GemvOutput Out>
__device__ __forceinline__ RopePair gemv_pair_rows(const GemvArgs& args, std::uint64_t row) {
  if constexpr (Out == GemvOutput::SiluMul) {
    return {static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(args.rows + row), 0};
  } else {
    return rope_pair(static_cast<std::uint32_t>(row), args.rope.head_dim, args.rope.style);
  }
}

// The epilogue inputs of output row `row` (< rows).
template <GemvOutput Out>
__device__ __forceinline__ GemvEpilogue gemv_epilogue_inputs(const GemvArgs& args,
                                                             std::uint64_t row) {
  GemvEpilogue e{};
  if constexpr (Out == GemvOutput::Bias) {
    e.bias[0] = __ldg(args.bias + row);
  } else if constexpr (gemv_rope(Out)) {
    const RopePair pr = gemv_pair_rows<Out>(args, row);
    if constexpr (Out == GemvOutput::RopeKvBias) {
      e.bias[0] = __ldg(args.bias + pr.a);
      e.bias[1] = __ldg(args.bias + pr.b);
    }
    e.inv_freq = __ldg(args.inv_freq + pr.j);
  }
  return e;
}

// Rope output of pair `row` with weight-row totals (a, b): a q pair turned into y, a k pair
// turned into the k cache's row pos, a v pair copied into the v cache's (as rope_kv_append).
template <GemvOutput Out>
__device__ __forceinline__ void gemv_store_rope(const GemvArgs& args, std::uint64_t row, float a,
                                                float b, const GemvEpilogue& e) {
  const RopePair pr = gemv_pair_rows<Out>(args, row);
  if constexpr (Out == GemvOutput::RopeKvBias) {
    a += e.bias[0];
    b += e.bias[1];
  }
  const RopeKvParams& p = args.rope;
  const std::uint32_t q_rows = p.n_heads * p.head_dim;
  const std::uint32_t kv_rows = p.n_kv_heads * p.head_dim;
  if (pr.a < q_rows) {
    const Turned t = rope_turn(a, b, args.pos, e.inv_freq);
    args.y[pr.a] = t.a;
    args.y[pr.b] = t.b;
    return;
  }
  const std::uint32_t cache_row = rope_kv_row(p, args.pos);
  if (cache_row == kNoCacheRow) return;
  const std::uint64_t at = std::uint64_t{cache_row} * kv_rows;
  if (pr.a < q_rows + kv_rows) {
    const Turned t = rope_turn(a, b, args.pos, e.inv_freq);
    args.k_cache[at + pr.a - q_rows] = float_to_bf16(t.a);
    args.k_cache[at + pr.b - q_rows] = float_to_bf16(t.b);
  } else {
    args.v_cache[at + pr.a - q_rows - kv_rows] = float_to_bf16(a);
    args.v_cache[at + pr.b - q_rows - kv_rows] = float_to_bf16(b);
  }
}

// Writes output row `row` from its weight rows' totals t[0..kRowsPerOut) and its epilogue inputs.
template <GemvOutput Out>
__device__ __forceinline__ void gemv_store(const GemvArgs& args, std::uint64_t row, const float* t,
                                           const GemvEpilogue& e) {
  if constexpr (Out == GemvOutput::Plain) {
    args.y[row] = t[0];
  } else if constexpr (Out == GemvOutput::Bias) {
    args.y[row] = t[0] + e.bias[0];
  } else if constexpr (Out == GemvOutput::SiluMul) {
    args.y[row] = gemv_silu_mul(t[0], t[1]);
  } else {
    gemv_store_rope<Out>(args, row, t[0], t[1], e);
  }
}

// The weight rows of logical block `block`'s warp group `group` (rows past `rows` clamped to the
// last row for loading; they are never stored).
template <int R, GemvOutput Out>
__device__ __forceinline__ void gemv_rows_of(const uint4* (&wrow)[R * (gemv_paired(Out) ? 2 : 1)],
                                             const GemvArgs& args, std::uint64_t out0) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::uint64_t out = out0 + r < args.rows ? out0 + r : args.rows - 1;
    if constexpr (gemv_paired(Out)) {  // the pair's two weight rows
      const RopePair pr = gemv_pair_rows<Out>(args, out);
      wrow[r * 2] = reinterpret_cast<const uint4*>(args.w + std::uint64_t{pr.a} * args.cols);
      wrow[r * 2 + 1] = reinterpret_cast<const uint4*>(args.w + std::uint64_t{pr.b} * args.cols);
    } else {
      wrow[r] = reinterpret_cast<const uint4*>(args.w + out * args.cols);
    }
  }
}

// The norm families' launch may hold fewer blocks than the rows need (at most
// kGemvNormBlocksPerProcessor per multiprocessor, so each block forms x once for several row
// groups): block b computes logical blocks b, b + gridDim.x, ... Each logical block's first batch
// of weights is in registers before its loop starts (the first one before the PDL wait), and the
// next logical block's first batch is asked of L2 while this one streams. The x families are
// launched with one block per row group and compile without the stride.
template <int R, int S, GemvInput In, GemvOutput Out>
__device__ __forceinline__ void gemv_body(const GemvArgs& args) {
  constexpr int kRowsPerOut = gemv_paired(Out) ? 2 : 1;
  constexpr int WR = R * kRowsPerOut;  // weight rows per warp group
  constexpr int kLoads = 8;            // weight loads in flight per lane
  constexpr int kBatch = kLoads / WR > 0 ? kLoads / WR : 1;
  constexpr int kGroups = static_cast<int>(kGemvWarps) / S;
  constexpr std::uint32_t kStep = S * 32;
  constexpr bool kStrided = In != GemvInput::X;
  constexpr bool kSharedX = In != GemvInput::X;  // the norm families form x in shared memory
  extern __shared__ float4 gemv_x_shared[];      // norm families: x, cols floats
  const unsigned warp = threadIdx.x >> 5;
  const unsigned lane = threadIdx.x & 31U;
  const unsigned group = warp / S;
  const unsigned slice = warp % S;
  const std::uint32_t vectors = args.cols / 8;
  const std::uint32_t logical = (args.rows + kGroups * R - 1) / (kGroups * R);
  const auto out0_of = [&](std::uint32_t block) {
    return (std::uint64_t{block} * kGroups + group) * R;
  };
  const auto full = [&](std::uint32_t b) { return b + (kBatch - 1) * kStep + 32 <= vectors; };
  // The checked / unchecked choice is the same for the whole warp (base is), so lanes never
  // split into two paths of loads.
  const auto load_first = [&](uint4(&wv)[kBatch][WR], const uint4* const(&wrow)[WR]) {
    const std::uint32_t base = slice * 32;
    if (full(base)) {
      gemv_load<WR, kBatch, kStep, false>(wv, wrow, base + lane, vectors);
    } else {
      gemv_load<WR, kBatch, kStep, true>(wv, wrow, base + lane, vectors);
    }
  };
  // Batch `first_batch` of block `block`'s rows into L2.
  const auto prefetch = [&](std::uint32_t block, int first_batch) {
    const uint4* rows[WR];
    gemv_rows_of<R, Out>(rows, args, out0_of(block));
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const std::uint32_t v = slice * 32 + lane + (first_batch * kBatch + u) * kStep;
#pragma unroll
      for (int r = 0; r < WR; ++r) {
        if (v < vectors) prefetch_l2(rows[r] + v);
      }
    }
  };

  // The rows this thread stores: lane 0 of each warp its group's R rows (S == 1), or thread
  // g * R + r (g < kGroups) row r of group g (S > 1), with their epilogue inputs.
  constexpr int kStores = S == 1 ? R : 1;
  const bool stores = S == 1 ? lane == 0 : threadIdx.x < static_cast<unsigned>(kGroups * R);
  const auto store_row = [&](std::uint32_t block, int j) -> std::uint64_t {
    if constexpr (S == 1) {
      return out0_of(block) + j;
    } else {
      return (std::uint64_t{block} * kGroups + threadIdx.x / R) * R + threadIdx.x % R;
    }
  };
  GemvEpilogue epilogue[kStores];
  const auto load_epilogue = [&](std::uint32_t block) {
    if constexpr (Out != GemvOutput::Plain && Out != GemvOutput::SiluMul) {
#pragma unroll
      for (int j = 0; j < kStores; ++j) {
        const std::uint64_t row = store_row(block, j);
        if (stores && row < args.rows) epilogue[j] = gemv_epilogue_inputs<Out>(args, row);
      }
    }
  };

  std::uint32_t block = blockIdx.x;
  const uint4* wrow[WR];
  gemv_rows_of<R, Out>(wrow, args, out0_of(block));
  // Before the wait: batch 0 into registers, batch 1 into L2, the epilogue inputs, norm_w.
  uint4 wv[kBatch][WR];
  load_first(wv, wrow);
  prefetch(block, 1);
  load_epilogue(block);
  gemv_preload_norm_w<In>(args, reinterpret_cast<float*>(gemv_x_shared));
  pdl_launch_dependents();
  pdl_wait();
  ENCORE_TIMELINE_EXIT;
  const float4* x4 = reinterpret_cast<const float4*>(
      gemv_input<In>(args, reinterpret_cast<float*>(gemv_x_shared)));
  ENCORE_TIMELINE_MARK(Mark);  // x is formed: the norm prologue's end

  for (;;) {
    const std::uint64_t out0 = out0_of(block);
    if (kStrided && block + gridDim.x < logical) prefetch(block + gridDim.x, 0);
    float acc[WR];
#pragma unroll
    for (int r = 0; r < WR; ++r) acc[r] = 0.0F;
    std::uint32_t base = slice * 32;  // lane 0's first vector
    for (;;) {
      if (full(base)) {
        gemv_consume<WR, kBatch, kStep, false, kSharedX>(wv, x4, base + lane, vectors, acc);
      } else {
        gemv_consume<WR, kBatch, kStep, true, kSharedX>(wv, x4, base + lane, vectors, acc);
      }
      base += kBatch * kStep;
      if (base >= vectors) break;
      if (full(base)) {
        gemv_load<WR, kBatch, kStep, false>(wv, wrow, base + lane, vectors);
      } else {
        gemv_load<WR, kBatch, kStep, true>(wv, wrow, base + lane, vectors);
      }
    }

#pragma unroll
    for (int r = 0; r < WR; ++r) acc[r] = warp_sum(acc[r]);

    if constexpr (S == 1) {
      if (lane == 0) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (out0 + r < args.rows) {
            gemv_store<Out>(args, out0 + r, acc + r * kRowsPerOut, epilogue[r]);
          }
        }
      }
    } else {
      __shared__ float partial[kGemvWarps][WR];
      if (lane == 0) {
#pragma unroll
        for (int r = 0; r < WR; ++r) partial[warp][r] = acc[r];
      }
      __syncthreads();
      if (threadIdx.x < static_cast<unsigned>(kGroups * R)) {
        const unsigned g = threadIdx.x / R;
        const unsigned r = threadIdx.x % R;
        float t[kRowsPerOut];
#pragma unroll
        for (int j = 0; j < kRowsPerOut; ++j) {
          t[j] = 0.0F;
#pragma unroll
          for (int k = 0; k < S; ++k) t[j] += partial[g * S + k][r * kRowsPerOut + j];
        }
        const std::uint64_t row = (std::uint64_t{block} * kGroups + g) * R + r;
        if (row < args.rows) gemv_store<Out>(args, row, t, epilogue[0]);
      }
      if (kStrided) __syncthreads();  // partial is written again by the next logical block
    }

    if (!kStrided) break;
    block += gridDim.x;
    if (block >= logical) break;
    gemv_rows_of<R, Out>(wrow, args, out0_of(block));
    load_first(wv, wrow);
    load_epilogue(block);
  }
}

}  // namespace encore::ops::detail
