#pragma once

// The CUDA implementations of the portable test kernels (portable_kernels.cu), as the
// `__global__` function addresses KernelDef::cuda wants. All null when encore is built without
// CUDA (portable_kernels_no_cuda.cpp).

#include <cstddef>

namespace encore::testing {

/// Size of big_value's one value (encore::kMaxValueBytes; checked where both are visible).
inline constexpr std::size_t kBigValueBytes = 4096;

struct PortableCudaKernels {
  const void* fill_u32 = nullptr;
  const void* mix_u32 = nullptr;
  const void* log_order = nullptr;
  const void* big_value = nullptr;
  const void* two_values = nullptr;
};

PortableCudaKernels portable_cuda_kernels();

}  // namespace encore::testing
