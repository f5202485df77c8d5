#pragma once

// bf16 <-> f32 conversions shared by the CPU references and the CUDA kernels, so both round the
// same way (bf16 is the top half of an f32: widening is a shift; narrowing rounds to nearest,
// ties to even, and keeps NaN a NaN).

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define ENCORE_OPS_HOST_DEVICE __host__ __device__
#else
#define ENCORE_OPS_HOST_DEVICE
#endif

namespace encore::ops::detail {

ENCORE_OPS_HOST_DEVICE inline float bits_to_float(std::uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

ENCORE_OPS_HOST_DEVICE inline std::uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

/// The f32 value of a bf16 bit pattern (exact).
ENCORE_OPS_HOST_DEVICE inline float bf16_to_float(std::uint16_t b) {
  return bits_to_float(std::uint32_t{b} << 16);
}

/// `f` rounded to the nearest bf16 (ties to even); NaN stays a quiet NaN of the same sign.
ENCORE_OPS_HOST_DEVICE inline std::uint16_t float_to_bf16(float f) {
  const std::uint32_t bits = float_to_bits(f);
  if ((bits & 0x7FFFFFFFU) > 0x7F800000U) {
    return static_cast<std::uint16_t>((bits >> 16) | 0x0040U);
  }
  const std::uint32_t rounded = bits + 0x7FFFU + ((bits >> 16) & 1U);
  return static_cast<std::uint16_t>(rounded >> 16);
}

}  // namespace encore::ops::detail
