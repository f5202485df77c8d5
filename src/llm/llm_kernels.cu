// CUDA implementations of the llm kernels; parameters match llm_kernels.h exactly.

#include <cstdint>

#include "llm/llm_kernels_cuda.h"

namespace encore::llm {

namespace {

// history has `history_len` entries; the CPU version reads the length from the view, here the
// caller's capacity check (pos + 1 < max_ctx + 1) keeps the write in bounds. Launched
// programmatically after the argmax: every thread waits for it before touching memory.
__global__ void next_token(const std::uint32_t* argmax, std::uint32_t* history,
                           std::uint32_t* token, std::uint32_t pos, std::uint32_t prompt_len) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const std::uint32_t next = pos + 1;
  if (next < prompt_len) {
    token[0] = history[next];
  } else {
    const std::uint32_t t = argmax[0];
    token[0] = t;
    history[next] = t;
  }
}

// 16-byte streaming loads, four in flight per thread, then a warp-shuffle and shared-memory
// block reduction into partial[blockIdx.x].
__global__ void stream_read(const float4* x, float* partial, std::uint32_t n4) {
  __shared__ float warp_sums[32];
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  float sum = 0.0F;
  for (; i + 3 * stride < n4; i += 4 * stride) {
    const float4 a = __ldcs(x + i);
    const float4 b = __ldcs(x + i + stride);
    const float4 c = __ldcs(x + i + 2 * stride);
    const float4 d = __ldcs(x + i + 3 * stride);
    sum += (a.x + a.y + a.z + a.w) + (b.x + b.y + b.z + b.w) + (c.x + c.y + c.z + c.w) +
           (d.x + d.y + d.z + d.w);
  }
  for (; i < n4; i += stride) {
    const float4 a = __ldcs(x + i);
    sum += a.x + a.y + a.z + a.w;
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xFFFFFFFFU, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < (blockDim.x + 31) / 32 ? warp_sums[threadIdx.x] : 0.0F;
    for (int offset = 16; offset > 0; offset /= 2) {
      sum += __shfl_down_sync(0xFFFFFFFFU, sum, offset);
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
  }
}

}  // namespace

LlmCudaKernels llm_cuda_kernels() {
  return {reinterpret_cast<const void*>(&next_token), reinterpret_cast<const void*>(&stream_read)};
}

}  // namespace encore::llm
