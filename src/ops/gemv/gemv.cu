// CUDA bf16 gemv, written for memory bandwidth (see gemv.h for the variant layout):
//  - each lane loads 16-byte weight vectors (8 bf16) with ld.global.nc.L1::no_allocate, so the
//    streamed weights never evict x from L1, with a 256-byte L2 prefetch hint;
//  - 8 independent weight loads per lane per batch (8 / R vectors of each of R rows) are issued
//    before any of them is used, and each vector's dot product starts its own FMA chain;
//  - x (f32) is read as two float4 per vector through L1, where it stays hot for the whole block;
//  - partial sums are reduced with warp shuffles, then (split-K variants) through shared memory;
//  - PDL: the weights do not depend on earlier dispatches, so each lane asks L2 for its first
//    batch of weights before pdl_wait() and only then reads x, overlapping the previous kernel's
//    tail with the start of the weight stream.
// Rows past `rows` in the last block are clamped to the last row for loading and never stored.

#include <cstdint>

#include "ops/cuda_common.cuh"
#include "ops/gemv/gemv.h"

namespace encore::ops::detail {

namespace {

// acc + <8 bf16 of w, 8 f32 of (a, b)>, as one FMA chain.
__device__ __forceinline__ float dot8(uint4 w, float4 a, float4 b) {
  float acc = bf16_lo(w.x) * a.x;
  acc = fmaf(bf16_hi(w.x), a.y, acc);
  acc = fmaf(bf16_lo(w.y), a.z, acc);
  acc = fmaf(bf16_hi(w.y), a.w, acc);
  acc = fmaf(bf16_lo(w.z), b.x, acc);
  acc = fmaf(bf16_hi(w.z), b.y, acc);
  acc = fmaf(bf16_lo(w.w), b.z, acc);
  acc = fmaf(bf16_hi(w.w), b.w, acc);
  return acc;
}

// One batch: kBatch vectors (kStep apart) of each of the R rows. All weight loads are issued
// first, then the x loads (L1 hits after the first warp), then the FMAs, each vector starting
// its own chain. kChecked: vectors at or past `vectors` contribute zero.
template <int R, int kBatch, std::uint32_t kStep, bool kChecked>
__device__ __forceinline__ void gemv_batch(const uint4* const (&wrow)[R], const float4* x4,
                                           std::uint32_t v0, std::uint32_t vectors,
                                           float (&acc)[R]) {
  uint4 wv[kBatch][R];
  float4 xa[kBatch];
  float4 xb[kBatch];
#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
    const std::uint32_t v = v0 + u * kStep;
    const bool valid = !kChecked || v < vectors;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      wv[u][r] = valid ? load_stream_16(wrow[r] + v) : make_uint4(0, 0, 0, 0);
    }
  }
#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
    const std::uint32_t v = v0 + u * kStep;
    const bool valid = !kChecked || v < vectors;
    xa[u] = valid ? x4[2 * v] : make_float4(0, 0, 0, 0);
    xb[u] = valid ? x4[2 * v + 1] : make_float4(0, 0, 0, 0);
  }
#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] += dot8(wv[u][r], xa[u], xb[u]);
  }
}

template <int R, int S, bool kBias>
__device__ __forceinline__ void gemv_body(const std::uint16_t* __restrict__ w,
                                          const float* __restrict__ x,
                                          const float* __restrict__ bias, float* __restrict__ y,
                                          std::uint32_t rows, std::uint32_t cols) {
  constexpr int kGroups = static_cast<int>(kGemvWarps) / S;
  constexpr int kBatch = 8 / R;  // vectors per row per batch: 8 loads in flight per lane
  constexpr std::uint32_t kStep = S * 32;
  const unsigned warp = threadIdx.x >> 5;
  const unsigned lane = threadIdx.x & 31U;
  const unsigned group = warp / S;
  const unsigned slice = warp % S;
  const std::uint64_t row0 = (std::uint64_t{blockIdx.x} * kGroups + group) * R;
  const std::uint32_t vectors = cols / 8;

  const uint4* wrow[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::uint64_t row = row0 + r < rows ? row0 + r : rows - 1;
    wrow[r] = reinterpret_cast<const uint4*>(w + row * cols);
  }
  const std::uint32_t first = slice * 32 + lane;

#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
    const std::uint32_t v = first + u * kStep;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (v < vectors) prefetch_l2(wrow[r] + v);
    }
  }
  pdl_wait();

  const float4* x4 = reinterpret_cast<const float4*>(x);
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0F;

  // Whole batches without bounds checks while every lane of the warp has one (the condition is
  // the same for the whole warp, so the lanes never split into two paths that would each wait
  // for their own loads), then at most one predicated batch for the tail.
  std::uint32_t base = slice * 32;  // lane 0's first vector
  for (; base + (kBatch - 1) * kStep + 32 <= vectors; base += kBatch * kStep) {
    gemv_batch<R, kBatch, kStep, false>(wrow, x4, base + lane, vectors, acc);
  }
  if (base < vectors) gemv_batch<R, kBatch, kStep, true>(wrow, x4, base + lane, vectors, acc);
  pdl_launch_dependents();

#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = warp_sum(acc[r]);

  if constexpr (S == 1) {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (row0 + r < rows) y[row0 + r] = acc[r] + (kBias ? bias[row0 + r] : 0.0F);
      }
    }
  } else {
    __shared__ float partial[kGemvWarps][R];
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) partial[warp][r] = acc[r];
    }
    __syncthreads();
    if (threadIdx.x < static_cast<unsigned>(kGroups * R)) {
      const unsigned g = threadIdx.x / R;
      const unsigned r = threadIdx.x % R;
      float sum = 0.0F;
#pragma unroll
      for (int k = 0; k < S; ++k) sum += partial[g * S + k][r];
      const std::uint64_t row = (std::uint64_t{blockIdx.x} * kGroups + g) * R + r;
      if (row < rows) y[row] = sum + (kBias ? bias[row] : 0.0F);
    }
  }
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads)
    gemv_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ x,
              float* __restrict__ y, std::uint32_t rows, std::uint32_t cols) {
  gemv_body<R, S, false>(w, x, nullptr, y, rows, cols);
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads)
    gemv_bias_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ x,
                   const float* __restrict__ bias, float* __restrict__ y, std::uint32_t rows,
                   std::uint32_t cols) {
  gemv_body<R, S, true>(w, x, bias, y, rows, cols);
}

template <int R, int S>
const void* instance(bool bias) {
  return bias ? reinterpret_cast<const void*>(&gemv_bias_bf16<R, S>)
              : reinterpret_cast<const void*>(&gemv_bf16<R, S>);
}

}  // namespace

const void* gemv_cuda_kernel(std::uint32_t rows_per_group, std::uint32_t warps_per_group,
                             bool bias) {
  switch (rows_per_group * 16 + warps_per_group) {
    case 2 * 16 + 1:
      return instance<2, 1>(bias);
    case 1 * 16 + 1:
      return instance<1, 1>(bias);
    case 1 * 16 + 2:
      return instance<1, 2>(bias);
    case 1 * 16 + 4:
      return instance<1, 4>(bias);
    case 1 * 16 + 8:
      return instance<1, 8>(bias);
    default:
      return nullptr;
  }
}

}  // namespace encore::ops::detail
