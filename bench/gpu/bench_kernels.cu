#include <cuda_runtime.h>

#include "bench_kernels.h"

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

}  // namespace

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
