// Built without CUDA: the basic kernels have CPU implementations only.

#include "kernels/basic_kernels_cuda.h"

namespace encore::kernels {

BasicCudaKernels basic_cuda_kernels() { return {}; }

}  // namespace encore::kernels
