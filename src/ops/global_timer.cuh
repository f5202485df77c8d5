#pragma once

// The GPU's global timer, in ns: the same clock on every multiprocessor, so times taken by
// different blocks compare (grid_barrier's timeout, the kernel timeline's marks).

#include <cstdint>

namespace encore::ops::detail {

__device__ __forceinline__ std::uint64_t global_timer_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}

}  // namespace encore::ops::detail
