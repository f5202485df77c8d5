// CUDA silu_mul_f32: one thread per element, bounds-checked against n.

#include <cstdint>

#include "ops/cuda_common.cuh"
#include "ops/elementwise/elementwise.h"

namespace encore::ops::detail {

namespace {

__global__ void silu_mul_f32(const float* gate, const float* up, float* out, std::uint32_t n) {
  pdl_enter();
  const std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = g / (1.0F + expf(-g)) * up[i];
}

}  // namespace

ElementwiseCudaKernels elementwise_cuda_kernels() {
  return {.silu_mul = reinterpret_cast<const void*>(&silu_mul_f32)};
}

}  // namespace encore::ops::detail
