// Built without CUDA: the portable test kernels have CPU implementations only.

#include "support/portable_kernels_cuda.h"

namespace encore::testing {

PortableCudaKernels portable_cuda_kernels() { return {}; }

}  // namespace encore::testing
