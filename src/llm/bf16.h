#pragma once

/// \file
/// bfloat16 <-> float on the host: the upper 16 bits of an IEEE float, rounded to nearest even.

#include <bit>
#include <cstdint>

namespace encore::llm {

inline float bf16_to_float(std::uint16_t v) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(v) << 16);
}

inline std::uint16_t float_to_bf16(float f) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7FFFFFFFU) > 0x7F800000U) return static_cast<std::uint16_t>((bits >> 16) | 0x40U);
  const std::uint32_t rounding = 0x7FFFU + ((bits >> 16) & 1U);  // ties to even
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

/// float -> bf16 -> float.
inline float round_bf16(float f) noexcept { return bf16_to_float(float_to_bf16(f)); }

}  // namespace encore::llm
