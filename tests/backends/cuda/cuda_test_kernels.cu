// Kernels for the CUDA backend's own tests: one that faults, and one whose CUDA signature does not
// match what it is registered with.

#include <cstdint>

#include "backends/cuda/cuda_test_kernels.h"

namespace encore::testing {

namespace {

// Writes through a pointer it computes from nothing: an illegal address, a sticky fault.
__global__ void fault_kernel(float* x) {
  float* wild = reinterpret_cast<float*>(static_cast<std::uintptr_t>(0x10)) + threadIdx.x;
  *wild = x[0];
}

// Takes (float*, double), registered as (buffer, 4-byte value).
__global__ void mismatched_kernel(float* x, double v) { x[0] = static_cast<float>(v); }

// x[i] += 1 for i < n: makes every submission's effect visible.
__global__ void increment_f32(float* x, std::uint32_t n) {
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1.0F;
}

}  // namespace

const void* cuda_fault_kernel() { return reinterpret_cast<const void*>(&fault_kernel); }
const void* cuda_mismatched_kernel() { return reinterpret_cast<const void*>(&mismatched_kernel); }
const void* cuda_increment_kernel() { return reinterpret_cast<const void*>(&increment_f32); }

}  // namespace encore::testing
