#pragma once

// The CUDA rotation of a rope pair, shared by rope_f32, rope_kv_append_bf16 and the gemv's rope
// epilogue: the f32 angle pos * inv_freq_j, turned with sincosf.

#include <cstdint>

#include "ops/rope/rope.h"

namespace encore::ops::detail {

__device__ __forceinline__ Turned rope_turn(float x0, float x1, std::uint32_t pos,
                                            float inv_freq_j) {
  float s;
  float c;
  sincosf(static_cast<float>(pos) * inv_freq_j, &s, &c);
  return {x0 * c - x1 * s, x0 * s + x1 * c};
}

}  // namespace encore::ops::detail
