#pragma once

// embedding_bf16 (Embedding): out[dim] = f32(table[token[0], :]) with a bf16 table [vocab, dim]
// and the token in device memory; a token >= vocab writes zeros.
// Params: in table, in token, out out, value u32 dim, value u32 vocab. Launch: dim threads.

#include "encore/kernel.h"

namespace encore::ops::detail {

struct EmbeddingCudaKernels {
  const void* embedding = nullptr;
};
EmbeddingCudaKernels embedding_cuda_kernels();

void embedding_cpu(const CpuKernelContext& ctx);

void register_embedding_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
