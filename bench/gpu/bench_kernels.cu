#include <cuda_runtime.h>

#include "bench_kernels.h"
#include "ops/cuda_common.cuh"

namespace encore::bench {

namespace {

__global__ void tiny(float* x, float v) { x[threadIdx.x] += v; }

// The same, opted into programmatic dependent launch: let the next kernel launch now, and wait
// for the previous one before touching memory.
__global__ void tiny_pdl(float* x, float v) {
  cudaTriggerProgrammaticLaunchCompletion();
  cudaGridDependencySynchronize();
  x[threadIdx.x] += v;
}

__global__ void busy(float* x, std::uint32_t spins) {
  float acc = x[threadIdx.x];
  for (std::uint32_t i = 0; i < spins; ++i) acc = acc * 0.999999F + 1e-6F;
  __syncthreads();
  if (threadIdx.x == 0) x[0] += 1.0F + (acc == -1.0F ? 1.0F : 0.0F);
}

// One dependent step of a decode-like chain: every block reads x[0, n) (n a multiple of 4,
// through L2, as a kernel reads its predecessor's output) and sums it; block 0 writes x[n] so
// that the next step depends on this one.
__device__ __forceinline__ void step(float* x, std::uint32_t n) {
  float sum = 0.0F;
  for (std::uint32_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
    const float4 v = __ldcg(reinterpret_cast<const float4*>(x) + i);
    sum += v.x + v.y + v.z + v.w;
  }
  if (n > 0) sum = ops::detail::block_sum(sum);
  if (blockIdx.x == 0 && threadIdx.x == 0) x[n] = sum * 1e-30F + 1.0F;
}

__global__ void step_pdl(float* x, std::uint32_t n) {
  ops::detail::pdl_wait();
  ops::detail::pdl_launch_dependents();
  step(x, n);
}

__global__ void barrier_steps(float* x, std::uint32_t n, unsigned* state, std::uint32_t steps) {
  for (std::uint32_t i = 0; i < steps; ++i) {
    step(x, n);
    ops::detail::grid_barrier(state);
  }
}

}  // namespace

const void* step_pdl_kernel() { return reinterpret_cast<const void*>(&step_pdl); }
const void* barrier_steps_kernel() { return reinterpret_cast<const void*>(&barrier_steps); }

const void* tiny_kernel() { return reinterpret_cast<const void*>(&tiny); }
const void* tiny_pdl_kernel() { return reinterpret_cast<const void*>(&tiny_pdl); }
const void* busy_kernel() { return reinterpret_cast<const void*>(&busy); }

void launch_tiny(float* x, float v, void* stream) {
  tiny<<<1, 32, 0, static_cast<cudaStream_t>(stream)>>>(x, v);
}

void launch_busy(float* x, std::uint32_t spins, void* stream) {
  busy<<<1, 32, 0, static_cast<cudaStream_t>(stream)>>>(x, spins);
}

}  // namespace encore::bench
