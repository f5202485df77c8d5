#pragma once

// The CUDA implementations of the basic kernels (basic_kernels.cu), as the `__global__` function
// addresses KernelDef::cuda wants. All null when encore is built without CUDA.

namespace encore::kernels {

struct BasicCudaKernels {
  const void* fill_f32 = nullptr;
  const void* copy_f32 = nullptr;
  const void* add_f32 = nullptr;
  const void* mul_f32 = nullptr;
  const void* scale_f32 = nullptr;
  const void* sum_f32 = nullptr;
};

BasicCudaKernels basic_cuda_kernels();

}  // namespace encore::kernels
