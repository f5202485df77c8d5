#pragma once

// The RMS-norm family (f32, one block per row of n elements; see ops.h for the signatures):
// rms_norm_f32, rms_norm_mul_f32, add_rms_norm_f32, add_rms_norm_mul_f32. The fusion pass relies
// on these signatures staying exactly as registered.

#include <cstdint>

#include "encore/kernel.h"

namespace encore::ops::detail {

/// The `__global__` addresses (all null without CUDA).
struct NormCudaKernels {
  const void* rms_norm = nullptr;
  const void* rms_norm_mul = nullptr;
  const void* add_rms_norm = nullptr;
  const void* add_rms_norm_mul = nullptr;
};
NormCudaKernels norm_cuda_kernels();

/// CPU references, one block (= one row) per call.
void rms_norm_cpu(const CpuKernelContext& ctx);
void rms_norm_mul_cpu(const CpuKernelContext& ctx);
void add_rms_norm_cpu(const CpuKernelContext& ctx);
void add_rms_norm_mul_cpu(const CpuKernelContext& ctx);

void register_norm_kernels(KernelRegistry& registry);

/// Threads per block the encode helpers launch for rows of n: a multiple of 32 in [32, 1024],
/// about 8 elements per thread.
std::uint32_t norm_block_threads(std::uint32_t n);

}  // namespace encore::ops::detail
