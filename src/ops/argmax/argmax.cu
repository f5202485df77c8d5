// CUDA argmax kernels: each thread keeps the best (value, index) of its elements, loading four
// at a time so the loads overlap, then the block merges them with warp shuffles. The merge is
// order-independent (larger value, then lower index), so CUDA and CPU agree exactly.

#include <cstdint>

#include "ops/argmax/argmax.h"
#include "ops/cuda_common.cuh"

namespace encore::ops::detail {

namespace {

struct Best {
  float value;
  std::uint32_t index;
};

__device__ __forceinline__ Best pick(Best a, Best b) {
  return (a.value > b.value || (a.value == b.value && a.index < b.index)) ? a : b;
}

__device__ __forceinline__ Best initial() { return {-__int_as_float(0x7F800000), 0xFFFFFFFFU}; }

__device__ __forceinline__ void consider(Best& best, float v, std::uint64_t i, std::uint32_t n) {
  if (i < n && !isnan(v)) best = pick(best, {v, static_cast<std::uint32_t>(i)});
}

// Best over the block, valid in thread 0.
__device__ Best block_best(Best b) {
  __shared__ float values[32];
  __shared__ std::uint32_t indices[32];
  for (int offset = 16; offset > 0; offset >>= 1) {
    const Best other{__shfl_xor_sync(0xFFFFFFFFU, b.value, offset),
                     __shfl_xor_sync(0xFFFFFFFFU, b.index, offset)};
    b = pick(b, other);
  }
  const unsigned lane = threadIdx.x & 31U;
  const unsigned warp = threadIdx.x >> 5;
  if (lane == 0) {
    values[warp] = b.value;
    indices[warp] = b.index;
  }
  __syncthreads();
  if (warp == 0) {
    b = lane < (blockDim.x >> 5) ? Best{values[lane], indices[lane]} : initial();
    for (int offset = 16; offset > 0; offset >>= 1) {
      const Best other{__shfl_xor_sync(0xFFFFFFFFU, b.value, offset),
                       __shfl_xor_sync(0xFFFFFFFFU, b.index, offset)};
      b = pick(b, other);
    }
  }
  return b;
}

// The best of x[i] for i = first, first + stride, ... < n, four loads in flight.
__device__ Best scan(const float* x, std::uint64_t first, std::uint64_t stride, std::uint32_t n) {
  Best best = initial();
  for (std::uint64_t i = first; i < n; i += 4 * stride) {
    float v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const std::uint64_t at = i + u * stride;
      v[u] = at < n ? x[at] : 0.0F;
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) consider(best, v[u], i + u * stride, n);
  }
  return best;
}

__global__ void argmax_f32(const float* x, std::uint32_t* token, std::uint32_t n) {
  pdl_enter();
  const Best best = block_best(scan(x, threadIdx.x, blockDim.x, n));
  if (threadIdx.x == 0) *token = best.index == 0xFFFFFFFFU ? 0U : best.index;
}

__global__ void argmax_partial_f32(const float* x, uint2* partial, std::uint32_t n) {
  pdl_enter();
  const std::uint64_t first = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const Best best = block_best(scan(x, first, std::uint64_t{gridDim.x} * blockDim.x, n));
  if (threadIdx.x == 0) partial[blockIdx.x] = make_uint2(__float_as_uint(best.value), best.index);
}

__global__ void argmax_final_f32(const uint2* partial, std::uint32_t* token, std::uint32_t count) {
  pdl_enter();
  Best best = initial();
  for (std::uint32_t b = threadIdx.x; b < count; b += blockDim.x) {
    const uint2 p = partial[b];
    if (p.y != 0xFFFFFFFFU) best = pick(best, {__uint_as_float(p.x), p.y});
  }
  best = block_best(best);
  if (threadIdx.x == 0) *token = best.index == 0xFFFFFFFFU ? 0U : best.index;
}

}  // namespace

ArgmaxCudaKernels argmax_cuda_kernels() {
  return {.single = reinterpret_cast<const void*>(&argmax_f32),
          .partial = reinterpret_cast<const void*>(&argmax_partial_f32),
          .final = reinterpret_cast<const void*>(&argmax_final_f32)};
}

}  // namespace encore::ops::detail
