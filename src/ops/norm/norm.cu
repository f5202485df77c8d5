// CUDA RMS-norm family: one block per row, any block size that is a multiple of 32 (<= 1024), no
// dynamic shared memory. Pass 1 forms the row (a + b for the add variants, stored to `sum`) and
// its sum of squares; pass 2 re-reads what pass 1 read or wrote *in the same thread*, so y may
// alias x and sum may alias a or b.

#include <cstdint>

#include "ops/cuda_common.cuh"
#include "ops/norm/norm.h"

namespace encore::ops::detail {

namespace {

template <bool kAdd, bool kMul>
__device__ __forceinline__ void norm_row(const float* a, const float* b, const float* w, float* sum,
                                         float* y, std::uint32_t n, float eps) {
  pdl_enter();
  const std::uint64_t base = std::uint64_t{blockIdx.x} * n;
  a += base;
  y += base;
  if constexpr (kAdd) {
    b += base;
    sum += base;
  }
  if constexpr (kMul) w += base;

  float squares = 0.0F;
  for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = a[i];
    if constexpr (kAdd) {
      v += b[i];
      sum[i] = v;
    }
    squares = fmaf(v, v, squares);
  }
  const float scale = rsqrtf(block_sum(squares) / static_cast<float>(n) + eps);
  for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = (kAdd ? sum[i] : a[i]) * scale;
    if constexpr (kMul) v *= w[i];
    y[i] = v;
  }
}

__global__ void rms_norm_f32(const float* x, float* y, std::uint32_t n, float eps) {
  norm_row<false, false>(x, nullptr, nullptr, nullptr, y, n, eps);
}

__global__ void rms_norm_mul_f32(const float* x, const float* w, float* y, std::uint32_t n,
                                 float eps) {
  norm_row<false, true>(x, nullptr, w, nullptr, y, n, eps);
}

__global__ void add_rms_norm_f32(const float* a, const float* b, float* sum, float* y,
                                 std::uint32_t n, float eps) {
  norm_row<true, false>(a, b, nullptr, sum, y, n, eps);
}

__global__ void add_rms_norm_mul_f32(const float* a, const float* b, const float* w, float* sum,
                                     float* y, std::uint32_t n, float eps) {
  norm_row<true, true>(a, b, w, sum, y, n, eps);
}

}  // namespace

NormCudaKernels norm_cuda_kernels() {
  return {.rms_norm = reinterpret_cast<const void*>(&rms_norm_f32),
          .rms_norm_mul = reinterpret_cast<const void*>(&rms_norm_mul_f32),
          .add_rms_norm = reinterpret_cast<const void*>(&add_rms_norm_f32),
          .add_rms_norm_mul = reinterpret_cast<const void*>(&add_rms_norm_mul_f32)};
}

}  // namespace encore::ops::detail
