#pragma once

// softmax_f32 (Softmax): y = exp(x - max) / sum(exp(x - max)) per row of n; one block per row
// (any multiple of 32 threads up to 1024, no dynamic shared memory); y may be x.
// Params: in x, out y, value u32 n.

#include "encore/kernel.h"

namespace encore::ops::detail {

struct SoftmaxCudaKernels {
  const void* softmax = nullptr;
};
SoftmaxCudaKernels softmax_cuda_kernels();

void softmax_cpu(const CpuKernelContext& ctx);

void register_softmax_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
