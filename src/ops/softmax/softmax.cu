// CUDA softmax_f32: one block per row; max, sum of exponentials, then the scaled write. Each
// thread re-reads only the elements it read itself, so y may alias x.

#include <cstdint>

#include "ops/cuda_common.cuh"
#include "ops/softmax/softmax.h"

namespace encore::ops::detail {

namespace {

__global__ void softmax_f32(const float* x, float* y, std::uint32_t n) {
  pdl_enter();
  const std::uint64_t base = std::uint64_t{blockIdx.x} * n;
  x += base;
  y += base;
  float m = -__int_as_float(0x7F800000);
  for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, x[i]);
  m = block_max(m);
  float sum = 0.0F;
  for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) sum += expf(x[i] - m);
  const float inv = 1.0F / block_sum(sum);
  for (std::uint32_t i = threadIdx.x; i < n; i += blockDim.x) y[i] = expf(x[i] - m) * inv;
}

}  // namespace

SoftmaxCudaKernels softmax_cuda_kernels() {
  return {.softmax = reinterpret_cast<const void*>(&softmax_f32)};
}

}  // namespace encore::ops::detail
