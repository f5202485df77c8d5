// CUDA bf16 gemv kernels of the x families (gemv, gemv_bias, gemv_silu) and the address lookup
// of every family; the body is gemv_kernel.cuh, the norm families are in gemv_norm.cu.

#include <cstdint>

#include "ops/gemv/gemv.h"
#include "ops/gemv/gemv_kernel.cuh"

namespace encore::ops::detail {

namespace {

template <int R, int S, GemvOutput Out>
__global__ void __launch_bounds__(kGemvBlockThreads)
    gemv_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ x,
              float* __restrict__ y, std::uint32_t rows, std::uint32_t cols) {
  gemv_body<R, S, GemvInput::X, Out>({.w = w, .x = x, .y = y, .rows = rows, .cols = cols});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads)
    gemv_bias_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ x,
                   const float* __restrict__ bias, float* __restrict__ y, std::uint32_t rows,
                   std::uint32_t cols) {
  gemv_body<R, S, GemvInput::X, GemvOutput::Bias>(
      {.w = w, .x = x, .bias = bias, .y = y, .rows = rows, .cols = cols});
}

template <int R, int S, bool kSilu = true>
const void* x_family(GemvOutput output) {
  switch (output) {
    case GemvOutput::Plain:
      return reinterpret_cast<const void*>(&gemv_bf16<R, S, GemvOutput::Plain>);
    case GemvOutput::Bias:
      return reinterpret_cast<const void*>(&gemv_bias_bf16<R, S>);
    case GemvOutput::SiluMul:
      if constexpr (kSilu)
        return reinterpret_cast<const void*>(&gemv_bf16<R, S, GemvOutput::SiluMul>);
      return nullptr;
    default:
      return nullptr;  // rope outputs: gemv_rope.cu
  }
}

const void* x_kernel(GemvOutput output, std::uint32_t r, std::uint32_t s) {
  // The silu table's shapes (r1s1, r1s2, r1s4) are a subset of the plain one's.
  switch (r * 16 + s) {
    case 2 * 16 + 1:
      return x_family<2, 1, false>(output);
    case 1 * 16 + 1:
      return x_family<1, 1>(output);
    case 1 * 16 + 2:
      return x_family<1, 2>(output);
    case 1 * 16 + 4:
      return x_family<1, 4>(output);
    case 1 * 16 + 8:
      return x_family<1, 8, false>(output);
    default:
      return nullptr;
  }
}

}  // namespace

const void* gemv_cuda_kernel(GemvInput input, GemvOutput output, std::uint32_t rows_per_group,
                             std::uint32_t warps_per_group) {
  if (gemv_rope(output))
    return gemv_rope_cuda_kernel(input, output, rows_per_group, warps_per_group);
  if (input == GemvInput::X) return x_kernel(output, rows_per_group, warps_per_group);
  return gemv_norm_cuda_kernel(input, output, rows_per_group, warps_per_group);
}

}  // namespace encore::ops::detail
