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

// increment_f32 opted into programmatic dependent launch.
__global__ void increment_pdl_f32(float* x, std::uint32_t n) {
  cudaTriggerProgrammaticLaunchCompletion();
  cudaGridDependencySynchronize();
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1.0F;
}

// c = a + b, opted into programmatic dependent launch.
__global__ void add_pdl_f32(const float* a, const float* b, float* c, std::uint32_t n) {
  cudaTriggerProgrammaticLaunchCompletion();
  cudaGridDependencySynchronize();
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

__device__ std::uint64_t global_timer_ns() {
  std::uint64_t t = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One thread spins for `cycles` clock cycles, then writes the GPU's global time (ns) to t[0].
__global__ void spin_then_stamp(std::uint64_t* t, std::uint64_t cycles) {
  const long long start = clock64();
  while (static_cast<std::uint64_t>(clock64() - start) < cycles) {
  }
  t[0] = global_timer_ns();
}

// Writes the GPU's global time (ns) to t[0] as it starts.
__global__ void stamp(std::uint64_t* t) { t[0] = global_timer_ns(); }

}  // namespace

const void* cuda_spin_then_stamp_kernel() {
  return reinterpret_cast<const void*>(&spin_then_stamp);
}
const void* cuda_stamp_kernel() { return reinterpret_cast<const void*>(&stamp); }
const void* cuda_increment_pdl_kernel() {
  return reinterpret_cast<const void*>(&increment_pdl_f32);
}
const void* cuda_add_pdl_kernel() { return reinterpret_cast<const void*>(&add_pdl_f32); }
const void* cuda_fault_kernel() { return reinterpret_cast<const void*>(&fault_kernel); }
const void* cuda_mismatched_kernel() { return reinterpret_cast<const void*>(&mismatched_kernel); }
const void* cuda_increment_kernel() { return reinterpret_cast<const void*>(&increment_f32); }

}  // namespace encore::testing
