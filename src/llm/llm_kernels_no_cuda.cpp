// Built without CUDA: the llm kernels have CPU implementations only.

#include "llm/llm_kernels_cuda.h"

namespace encore::llm {

LlmCudaKernels llm_cuda_kernels() { return {}; }

}  // namespace encore::llm
