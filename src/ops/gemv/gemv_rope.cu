// CUDA bf16 gemv kernels of the rope outputs (gemv*_rope_kv, gemv*_bias_rope_kv): the q|k|v
// projection of a decode step with rope and the kv-cache append as its epilogue, for every input
// (x, norm, add+norm), with and without a bias. The body is gemv_kernel.cuh; params as gemv.h
// lists them (the rope tail: q, k_cache, v_cache, inv_freq, rows, cols, [eps,] pos, rope).

#include <cstdint>

#include "ops/gemv/gemv.h"
#include "ops/gemv/gemv_kernel.cuh"

namespace encore::ops::detail {

namespace {

using u16 = std::uint16_t;
using u32 = std::uint32_t;
constexpr GemvOutput kRope = GemvOutput::RopeKv;
constexpr GemvOutput kRopeBias = GemvOutput::RopeKvBias;

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads)
    x_rope_bf16(const u16* __restrict__ w, const float* __restrict__ x, float* __restrict__ q,
                u16* __restrict__ k_cache, u16* __restrict__ v_cache,
                const float* __restrict__ inv_freq, u32 rows, u32 cols, u32 pos,
                RopeKvParams rope) {
  gemv_body<R, S, GemvInput::X, kRope>({.w = w,
                                        .x = x,
                                        .y = q,
                                        .rows = rows,
                                        .cols = cols,
                                        .k_cache = k_cache,
                                        .v_cache = v_cache,
                                        .inv_freq = inv_freq,
                                        .pos = pos,
                                        .rope = rope});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads)
    x_bias_rope_bf16(const u16* __restrict__ w, const float* __restrict__ x,
                     const float* __restrict__ bias, float* __restrict__ q,
                     u16* __restrict__ k_cache, u16* __restrict__ v_cache,
                     const float* __restrict__ inv_freq, u32 rows, u32 cols, u32 pos,
                     RopeKvParams rope) {
  gemv_body<R, S, GemvInput::X, kRopeBias>({.w = w,
                                            .x = x,
                                            .bias = bias,
                                            .y = q,
                                            .rows = rows,
                                            .cols = cols,
                                            .k_cache = k_cache,
                                            .v_cache = v_cache,
                                            .inv_freq = inv_freq,
                                            .pos = pos,
                                            .rope = rope});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    norm_rope_bf16(const u16* __restrict__ w, const float* __restrict__ x,
                   const float* __restrict__ norm_w, float* __restrict__ q,
                   u16* __restrict__ k_cache, u16* __restrict__ v_cache,
                   const float* __restrict__ inv_freq, u32 rows, u32 cols, float eps, u32 pos,
                   RopeKvParams rope) {
  gemv_body<R, S, GemvInput::Norm, kRope>({.w = w,
                                           .x = x,
                                           .norm_w = norm_w,
                                           .y = q,
                                           .rows = rows,
                                           .cols = cols,
                                           .eps = eps,
                                           .k_cache = k_cache,
                                           .v_cache = v_cache,
                                           .inv_freq = inv_freq,
                                           .pos = pos,
                                           .rope = rope});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    norm_bias_rope_bf16(const u16* __restrict__ w, const float* __restrict__ x,
                        const float* __restrict__ norm_w, const float* __restrict__ bias,
                        float* __restrict__ q, u16* __restrict__ k_cache, u16* __restrict__ v_cache,
                        const float* __restrict__ inv_freq, u32 rows, u32 cols, float eps, u32 pos,
                        RopeKvParams rope) {
  gemv_body<R, S, GemvInput::Norm, kRopeBias>({.w = w,
                                               .x = x,
                                               .norm_w = norm_w,
                                               .bias = bias,
                                               .y = q,
                                               .rows = rows,
                                               .cols = cols,
                                               .eps = eps,
                                               .k_cache = k_cache,
                                               .v_cache = v_cache,
                                               .inv_freq = inv_freq,
                                               .pos = pos,
                                               .rope = rope});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    add_norm_rope_bf16(const u16* __restrict__ w, const float* __restrict__ a,
                       const float* __restrict__ b, const float* __restrict__ norm_w,
                       float* __restrict__ sum, float* __restrict__ q, u16* __restrict__ k_cache,
                       u16* __restrict__ v_cache, const float* __restrict__ inv_freq, u32 rows,
                       u32 cols, float eps, u32 pos, RopeKvParams rope) {
  gemv_body<R, S, GemvInput::AddNorm, kRope>({.w = w,
                                              .x = a,
                                              .b = b,
                                              .norm_w = norm_w,
                                              .sum = sum,
                                              .y = q,
                                              .rows = rows,
                                              .cols = cols,
                                              .eps = eps,
                                              .k_cache = k_cache,
                                              .v_cache = v_cache,
                                              .inv_freq = inv_freq,
                                              .pos = pos,
                                              .rope = rope});
}

template <int R, int S>
__global__ void __launch_bounds__(kGemvBlockThreads, kGemvNormBlocksPerProcessor)
    add_norm_bias_rope_bf16(const u16* __restrict__ w, const float* __restrict__ a,
                            const float* __restrict__ b, const float* __restrict__ norm_w,
                            float* __restrict__ sum, const float* __restrict__ bias,
                            float* __restrict__ q, u16* __restrict__ k_cache,
                            u16* __restrict__ v_cache, const float* __restrict__ inv_freq, u32 rows,
                            u32 cols, float eps, u32 pos, RopeKvParams rope) {
  gemv_body<R, S, GemvInput::AddNorm, kRopeBias>({.w = w,
                                                  .x = a,
                                                  .b = b,
                                                  .norm_w = norm_w,
                                                  .sum = sum,
                                                  .bias = bias,
                                                  .y = q,
                                                  .rows = rows,
                                                  .cols = cols,
                                                  .eps = eps,
                                                  .k_cache = k_cache,
                                                  .v_cache = v_cache,
                                                  .inv_freq = inv_freq,
                                                  .pos = pos,
                                                  .rope = rope});
}

template <int R, int S>
const void* rope_family(GemvInput input, bool bias) {
  switch (input) {
    case GemvInput::X:
      return bias ? reinterpret_cast<const void*>(&x_bias_rope_bf16<R, S>)
                  : reinterpret_cast<const void*>(&x_rope_bf16<R, S>);
    case GemvInput::Norm:
      return bias ? reinterpret_cast<const void*>(&norm_bias_rope_bf16<R, S>)
                  : reinterpret_cast<const void*>(&norm_rope_bf16<R, S>);
    case GemvInput::AddNorm:
      return bias ? reinterpret_cast<const void*>(&add_norm_bias_rope_bf16<R, S>)
                  : reinterpret_cast<const void*>(&add_norm_rope_bf16<R, S>);
  }
  return nullptr;
}

}  // namespace

const void* gemv_rope_cuda_kernel(GemvInput input, GemvOutput output, std::uint32_t r,
                                  std::uint32_t s) {
  if (!gemv_rope(output)) return nullptr;
  const bool bias = output == kRopeBias;
  switch (r * 16 + s) {  // the pair table's shapes
    case 1 * 16 + 1:
      return rope_family<1, 1>(input, bias);
    case 1 * 16 + 2:
      return rope_family<1, 2>(input, bias);
    case 1 * 16 + 4:
      return rope_family<1, 4>(input, bias);
    default:
      return nullptr;
  }
}

}  // namespace encore::ops::detail
