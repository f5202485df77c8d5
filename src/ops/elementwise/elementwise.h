#pragma once

// Elementwise ops: silu_mul_f32 (out = silu(gate) * up). add_f32 and mul_f32 are the basic
// kernels (src/kernels); register_ops adds those too when a registry lacks them.

#include <cstdint>

#include "encore/kernel.h"

namespace encore::ops::detail {

struct ElementwiseCudaKernels {
  const void* silu_mul = nullptr;
};
ElementwiseCudaKernels elementwise_cuda_kernels();

/// CPU reference of silu_mul_f32 (in gate, in up, out out, value u32 n), one block per call.
void silu_mul_cpu(const CpuKernelContext& ctx);

void register_elementwise_kernels(KernelRegistry& registry);

/// Threads per block of the elementwise launches.
inline constexpr std::uint32_t kElementwiseBlock = 256;

}  // namespace encore::ops::detail
