// CUDA bf16 gemv kernels of the norm families: x = rms_norm(x) * norm_w (gemv_norm*) or
// rms_norm(a + b) * norm_w with sum = a + b (gemv_add_norm*), formed in shared memory by every
// block (gemv_kernel.cuh), with the plain, bias and silu outputs.

#include <cstdint>

#include "ops/gemv/gemv.h"
#include "ops/gemv/gemv_kernel.cuh"

namespace encore::ops::detail {

namespace {

template <int R, int S, GemvOutput Out>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    gemv_norm_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ x,
                   const float* __restrict__ norm_w, float* __restrict__ y, std::uint32_t rows,
                   std::uint32_t cols, float eps) {
  gemv_body<R, S, GemvInput::Norm, Out>(
      {.w = w, .x = x, .norm_w = norm_w, .y = y, .rows = rows, .cols = cols, .eps = eps});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    gemv_norm_bias_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ x,
                        const float* __restrict__ norm_w, const float* __restrict__ bias,
                        float* __restrict__ y, std::uint32_t rows, std::uint32_t cols, float eps) {
  gemv_body<R, S, GemvInput::Norm, GemvOutput::Bias>({.w = w,
                                                      .x = x,
                                                      .norm_w = norm_w,
                                                      .bias = bias,
                                                      .y = y,
                                                      .rows = rows,
                                                      .cols = cols,
                                                      .eps = eps});
}

template <int R, int S, GemvOutput Out>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    gemv_add_norm_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ a,
                       const float* __restrict__ b, const float* __restrict__ norm_w,
                       float* __restrict__ sum, float* __restrict__ y, std::uint32_t rows,
                       std::uint32_t cols, float eps) {
  gemv_body<R, S, GemvInput::AddNorm, Out>({.w = w,
                                            .x = a,
                                            .b = b,
                                            .norm_w = norm_w,
                                            .sum = sum,
                                            .y = y,
                                            .rows = rows,
                                            .cols = cols,
                                            .eps = eps});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    gemv_add_norm_bias_bf16(const std::uint16_t* __restrict__ w, const float* __restrict__ a,
                            const float* __restrict__ b, const float* __restrict__ norm_w,
                            float* __restrict__ sum, const float* __restrict__ bias,
                            float* __restrict__ y, std::uint32_t rows, std::uint32_t cols,
                            float eps) {
  gemv_body<R, S, GemvInput::AddNorm, GemvOutput::Bias>({.w = w,
                                                         .x = a,
                                                         .b = b,
                                                         .norm_w = norm_w,
                                                         .sum = sum,
                                                         .bias = bias,
                                                         .y = y,
                                                         .rows = rows,
                                                         .cols = cols,
                                                         .eps = eps});
}

template <int R, int S, bool kSilu = true>
const void* norm_family(GemvInput input, GemvOutput output) {
  const bool add = input == GemvInput::AddNorm;
  switch (output) {
    case GemvOutput::Plain:
      return add ? reinterpret_cast<const void*>(&gemv_add_norm_bf16<R, S, GemvOutput::Plain>)
                 : reinterpret_cast<const void*>(&gemv_norm_bf16<R, S, GemvOutput::Plain>);
    case GemvOutput::Bias:
      return add ? reinterpret_cast<const void*>(&gemv_add_norm_bias_bf16<R, S>)
                 : reinterpret_cast<const void*>(&gemv_norm_bias_bf16<R, S>);
    case GemvOutput::SiluMul:
      if constexpr (kSilu) {
        return add ? reinterpret_cast<const void*>(&gemv_add_norm_bf16<R, S, GemvOutput::SiluMul>)
                   : reinterpret_cast<const void*>(&gemv_norm_bf16<R, S, GemvOutput::SiluMul>);
      }
      return nullptr;
    default:
      return nullptr;  // rope outputs: gemv_rope.cu
  }
}

}  // namespace

const void* gemv_norm_cuda_kernel(GemvInput input, GemvOutput output, std::uint32_t r,
                                  std::uint32_t s) {
  if (input == GemvInput::X) return nullptr;
  switch (r * 16 + s) {
    case 2 * 16 + 1:
      return norm_family<2, 1, false>(input, output);
    case 1 * 16 + 1:
      return norm_family<1, 1>(input, output);
    case 1 * 16 + 2:
      return norm_family<1, 2>(input, output);
    case 1 * 16 + 4:
      return norm_family<1, 4>(input, output);
    case 1 * 16 + 8:
      return norm_family<1, 8, false>(input, output);
    default:
      return nullptr;
  }
}

}  // namespace encore::ops::detail
