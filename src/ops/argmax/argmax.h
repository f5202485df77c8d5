#pragma once

// Argmax of f32 logits into a u32 token in device memory. The largest value wins; among equal
// values the lowest index wins; NaN is never picked (all-NaN input gives token 0).
//
// | kernel             | params                                        | launch                  |
// |--------------------|-----------------------------------------------|-------------------------|
// | argmax_f32         | in x, out token, value u32 n                  | 1 block (n <= 8192)     |
// | argmax_partial_f32 | in x, out partial, value u32 n                | argmax_blocks(n) blocks |
// | argmax_final_f32   | in partial, out token, value u32 count        | 1 block                 |
//
// partial holds one (f32 value, u32 index) pair per block of the first stage: block b covers
// the elements i with (i / 256) % blocks == b (a grid-stride loop of 256-thread blocks).

#include <cstdint>

#include "encore/kernel.h"

namespace encore::ops::detail {

inline constexpr std::uint32_t kArgmaxThreads = 256;
inline constexpr std::uint32_t kArgmaxSingleBlockMax = 8192;

/// Blocks of the first stage for n logits (1 when the single-block kernel is used).
std::uint32_t argmax_blocks(std::uint32_t n);

struct ArgmaxCudaKernels {
  const void* single = nullptr;
  const void* partial = nullptr;
  const void* final = nullptr;
};
ArgmaxCudaKernels argmax_cuda_kernels();

void argmax_single_cpu(const CpuKernelContext& ctx);
void argmax_partial_cpu(const CpuKernelContext& ctx);
void argmax_final_cpu(const CpuKernelContext& ctx);

void register_argmax_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
