#pragma once

// The CUDA implementations of the llm kernels (llm_kernels.cu) as `__global__` function
// addresses; null when encore-llm is built without CUDA. Kept apart from llm_kernels.h so the
// .cu file includes nothing of encore.

namespace encore::llm {

struct LlmCudaKernels {
  const void* next_token = nullptr;
  const void* stream_read = nullptr;
};

LlmCudaKernels llm_cuda_kernels();

}  // namespace encore::llm
