// CUDA versions of the basic kernels. Parameter order and meaning match basic_kernels.h exactly:
// the CPU and CUDA implementations of one kernel share one signature.

#include <cstdint>

#include "kernels/basic_kernels_cuda.h"

namespace encore::kernels {

namespace {

__device__ inline std::uint32_t global_x() { return blockIdx.x * blockDim.x + threadIdx.x; }

__global__ void fill_f32(float* y, float v, std::uint32_t n) {
  const std::uint32_t i = global_x();
  if (i < n) y[i] = v;
}

__global__ void copy_f32(const float* x, float* y, std::uint32_t n) {
  const std::uint32_t i = global_x();
  if (i < n) y[i] = x[i];
}

__global__ void add_f32(const float* a, const float* b, float* c, std::uint32_t n) {
  const std::uint32_t i = global_x();
  if (i < n) c[i] = a[i] + b[i];
}

__global__ void mul_f32(const float* a, const float* b, float* c, std::uint32_t n) {
  const std::uint32_t i = global_x();
  if (i < n) c[i] = a[i] * b[i];
}

__global__ void scale_f32(const float* x, float* y, float alpha, std::uint32_t n) {
  const std::uint32_t i = global_x();
  if (i < n) y[i] = alpha * x[i];
}

// Grid-stride partial sums, then a tree reduction of the block's per-thread sums in dynamic
// shared memory (blockDim.x floats), in the same order as the CPU version (which pairs t with
// t + width for width = 1, 2, 4...), so both give the same float result.
__global__ void sum_f32(const float* x, float* partial, std::uint32_t n) {
  extern __shared__ float sums[];
  const std::uint32_t t = threadIdx.x;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  float s = 0.0F;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + t; i < n; i += stride) s += x[i];
  sums[t] = s;
  __syncthreads();
  for (std::uint32_t width = 1; width < blockDim.x; width *= 2) {
    if (t % (2 * width) == 0 && t + width < blockDim.x) sums[t] += sums[t + width];
    __syncthreads();
  }
  if (t == 0) partial[blockIdx.x] = sums[0];
}

}  // namespace

BasicCudaKernels basic_cuda_kernels() {
  return {reinterpret_cast<const void*>(&fill_f32),  reinterpret_cast<const void*>(&copy_f32),
          reinterpret_cast<const void*>(&add_f32),   reinterpret_cast<const void*>(&mul_f32),
          reinterpret_cast<const void*>(&scale_f32), reinterpret_cast<const void*>(&sum_f32)};
}

}  // namespace encore::kernels
