#pragma once

// Helpers of the op tests (tests/ops, tests/ops/cuda): devices on the built-in registry, typed
// upload/download, seeded random data, bf16 conversions written independently of the library's,
// and an elementwise comparison with a tolerance that reports the worst element.

#include <cstdint>
#include <gtest/gtest.h>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

namespace encore::testing {

/// A CPU device on the built-in registry, in validation mode (a kernel that writes bytes it did
/// not declare fails its submission), with 4 worker threads.
Device make_ops_cpu_device();

/// Uploads `values` into a fresh buffer of exactly their size.
template <class T>
Buffer upload(Device& dev, const std::vector<T>& values, std::string_view label = {}) {
  Buffer b = dev.alloc(values.size() * sizeof(T), label);
  b.upload(std::span<const T>(values));
  return b;
}

/// n floats uniform in [lo, hi), from `seed`.
std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.0F,
                                 float hi = 1.0F);
/// n bf16 bit patterns of values uniform in [-scale, scale), from `seed`.
std::vector<std::uint16_t> random_bf16(std::size_t n, std::uint64_t seed, float scale = 1.0F);

/// Random decode-attention inputs of `shape`: q (n_heads * head_dim floats in [-2, 2)) from
/// q_seed, the K cache (max_ctx rows, bf16 in [-2, 2)) from kv_seed and the V cache (bf16 in
/// [-1, 1)) from kv_seed + 1.
struct AttentionInputs {
  std::vector<float> q;
  std::vector<std::uint16_t> k;
  std::vector<std::uint16_t> v;
};
AttentionInputs attention_inputs(const ops::AttentionShape& shape, std::uint64_t q_seed,
                                 std::uint64_t kv_seed);

/// The value of a bf16 bit pattern.
float bf16_value(std::uint16_t bits);
/// The bf16 nearest to `f`, ties to the even pattern (f finite).
std::uint16_t nearest_bf16(float f);

/// Tolerance of a comparison: |got - want| <= abs + rel * |want|.
struct Tolerance {
  double abs = 0.0;
  double rel = 0.0;
};

/// Success when every element is within `tol`; the failure names the worst element, the number
/// of elements out of tolerance and the largest errors seen.
::testing::AssertionResult all_near(std::span<const float> got, std::span<const float> want,
                                    Tolerance tol);

/// Success when every element is equal bit for bit (NaN patterns included).
::testing::AssertionResult all_identical(std::span<const float> got, std::span<const float> want);

}  // namespace encore::testing
