// CUDA embedding_bf16: one thread per element of the row; the token is read from device memory
// (so an argmax of the previous step can feed it), after the PDL wait.

#include <cstdint>

#include "ops/cuda_common.cuh"
#include "ops/embedding/embedding.h"

namespace encore::ops::detail {

namespace {

__global__ void embedding_bf16(const std::uint16_t* table, const std::uint32_t* token, float* out,
                               std::uint32_t dim, std::uint32_t vocab) {
  pdl_enter();
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const std::uint32_t t = *token;
  if (i >= dim) return;
  out[i] =
      t < vocab ? __uint_as_float(std::uint32_t{table[std::uint64_t{t} * dim + i]} << 16) : 0.0F;
}

}  // namespace

EmbeddingCudaKernels embedding_cuda_kernels() {
  return {.embedding = reinterpret_cast<const void*>(&embedding_bf16)};
}

}  // namespace encore::ops::detail
