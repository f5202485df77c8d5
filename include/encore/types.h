#pragma once

/// \file
/// Small value types shared by the whole API: 3-D extents, buffer access, byte ranges, op kinds.

#include <cstdint>
#include <string>
#include <string_view>

namespace encore {

/// A 3-D extent (grid or block). Components default to 1.
struct Dim3 {
  std::uint32_t x = 1;
  std::uint32_t y = 1;
  std::uint32_t z = 1;

  constexpr Dim3() = default;
  constexpr Dim3(std::uint32_t x_, std::uint32_t y_ = 1, std::uint32_t z_ = 1)  // NOLINT: implicit
      : x(x_), y(y_), z(z_) {}

  /// x*y*z without overflow (64-bit).
  constexpr std::uint64_t volume() const {
    return std::uint64_t{x} * std::uint64_t{y} * std::uint64_t{z};
  }
  friend constexpr bool operator==(const Dim3&, const Dim3&) = default;
};

/// "(x, y, z)".
std::string to_string(Dim3 d);

/// How a dispatch uses a buffer. A bit set: read = 1, write = 2.
enum class Access : std::uint8_t {
  In = 1,     ///< read only
  Out = 2,    ///< written (the kernel may not read what was there before)
  InOut = 3,  ///< read and written
};

constexpr bool reads(Access a) { return (static_cast<unsigned>(a) & 1U) != 0; }
constexpr bool writes(Access a) { return (static_cast<unsigned>(a) & 2U) != 0; }
/// "in", "out" or "inout".
std::string_view to_string(Access a) noexcept;

/// A half-open byte interval [begin, end) within one allocation.
///
/// The single overlap rule of encore: two ranges overlap when they share at least one byte.
/// Adjacent ranges ([0,4) and [4,8)) do not overlap; an empty range overlaps nothing.
struct ByteRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  constexpr std::uint64_t size() const { return end - begin; }
  constexpr bool empty() const { return end <= begin; }
  friend constexpr bool operator==(const ByteRange&, const ByteRange&) = default;
};

/// True when `a` and `b` share at least one byte (see ByteRange).
constexpr bool overlaps(ByteRange a, ByteRange b) {
  return !a.empty() && !b.empty() && a.begin < b.end && b.begin < a.end;
}

/// True when every byte of `inner` lies in `outer` (an empty `inner` is contained anywhere).
constexpr bool contains(ByteRange outer, ByteRange inner) {
  return inner.empty() || (outer.begin <= inner.begin && inner.end <= outer.end);
}

/// What a dispatch computes, as far as the passes and the profiler need to know. Kernels declare a
/// default; a dispatch may override it. `Other` means "unknown": passes never move or fuse it.
enum class OpKind : std::uint8_t {
  Other,
  Copy,
  Fill,
  ElemAdd,
  ElemMul,
  ElemScale,
  Reduce,
  RmsNorm,
  RmsNormMul,
  AddRmsNorm,
  Rope,
  Gemv,
  MatMul,
  Embedding,
  KvAppend,
  Sdpa,
  Softmax,
  SiluMul,
  Argmax,
  Collective,
};

/// Stable name of an op kind, e.g. "RmsNorm".
std::string_view to_string(OpKind kind) noexcept;

}  // namespace encore
