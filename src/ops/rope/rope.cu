// CUDA rope_f32: one thread per rotated pair.

#include <cstdint>

#include "ops/cuda_common.cuh"
#include "ops/rope/rope.h"

namespace encore::ops::detail {

namespace {

__global__ void rope_f32(float* x, const float* inv_freq, std::uint32_t pos, std::uint32_t n_heads,
                         std::uint32_t head_dim, std::uint32_t style) {
  pdl_wait();
  const std::uint32_t half = head_dim / 2;
  const std::uint32_t p = blockIdx.x * blockDim.x + threadIdx.x;
  pdl_launch_dependents();
  if (p >= n_heads * half) return;
  const std::uint32_t head = p / half;
  const std::uint32_t j = p % half;
  const float angle = static_cast<float>(pos) * inv_freq[j];
  float s;
  float c;
  sincosf(angle, &s, &c);
  float* h = x + std::uint64_t{head} * head_dim;
  float* a = style == 0 ? h + j : h + 2 * j;
  float* b = style == 0 ? h + j + half : h + 2 * j + 1;
  const float x0 = *a;
  const float x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x0 * s + x1 * c;
}

}  // namespace

RopeCudaKernels rope_cuda_kernels() { return {.rope = reinterpret_cast<const void*>(&rope_f32)}; }

}  // namespace encore::ops::detail
