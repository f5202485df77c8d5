#pragma once

/// \file
/// Launch shape of one dispatch: grid and block, given as total threads or as groups, plus
/// dynamic shared memory. Validated against the device's limits at dispatch time.

#include <cstdint>

#include "encore/types.h"

namespace encore {

class Launch {
 public:
  Launch() = default;

  /// `total` threads in blocks of `block`; the grid is ceil(total / block) per axis, so kernels
  /// must bounds-check the last partial block.
  static constexpr Launch threads(Dim3 total, Dim3 block) {
    Launch l;
    l.grid_ = {ceil_div(total.x, block.x), ceil_div(total.y, block.y), ceil_div(total.z, block.z)};
    l.block_ = block;
    l.total_ = total;
    l.from_threads_ = true;
    return l;
  }
  /// `grid` blocks of `block` threads.
  static constexpr Launch groups(Dim3 grid, Dim3 block) {
    Launch l;
    l.grid_ = grid;
    l.block_ = block;
    l.total_ = {grid.x * block.x, grid.y * block.y, grid.z * block.z};
    return l;
  }
  /// Bytes of dynamic shared memory per block.
  constexpr Launch& shared(std::uint32_t bytes) {
    shared_bytes_ = bytes;
    return *this;
  }

  constexpr Dim3 grid() const { return grid_; }
  constexpr Dim3 block() const { return block_; }
  constexpr std::uint32_t shared_bytes() const { return shared_bytes_; }
  /// True when built with threads(); then total_threads() is what was asked for.
  constexpr bool from_threads() const { return from_threads_; }
  constexpr Dim3 total_threads() const { return total_; }

  friend constexpr bool operator==(const Launch&, const Launch&) = default;

 private:
  static constexpr std::uint32_t ceil_div(std::uint32_t n, std::uint32_t d) {
    return d == 0 ? 0 : static_cast<std::uint32_t>((std::uint64_t{n} + d - 1) / d);
  }

  Dim3 grid_{0, 0, 0};
  Dim3 block_{0, 0, 0};
  Dim3 total_{0, 0, 0};
  std::uint32_t shared_bytes_ = 0;
  bool from_threads_ = false;
};

}  // namespace encore
