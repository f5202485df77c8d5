// CUDA versions of the portable test kernels. Parameter order and meaning match
// portable_kernels.h exactly: the CPU and CUDA implementations of one kernel share one signature
// and compute the same bytes.

#include <cstdint>

#include "support/portable_kernels_cuda.h"

namespace encore::testing {

namespace {

struct BigValue {
  unsigned char bytes[kBigValueBytes];
};

__device__ inline std::uint64_t global_x() {
  return std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
}

__global__ void fill_u32(std::uint32_t* dst, std::uint32_t v, std::uint32_t n) {
  const std::uint64_t i = global_x();
  if (i < n) dst[i] = v + static_cast<std::uint32_t>(i);
}

// True when [a, a + a_n) and [b, b + b_n) share an element.
__device__ inline bool overlap(const std::uint32_t* a, std::uint32_t a_n, const std::uint32_t* b,
                               std::uint32_t b_n) {
  const auto a_begin = reinterpret_cast<std::uintptr_t>(a);
  const auto b_begin = reinterpret_cast<std::uintptr_t>(b);
  const std::uintptr_t a_end = a_begin + std::uintptr_t{a_n} * sizeof(std::uint32_t);
  const std::uintptr_t b_end = b_begin + std::uintptr_t{b_n} * sizeof(std::uint32_t);
  return a_n != 0 && b_n != 0 && a_begin < b_end && b_begin < a_end;
}

__global__ void mix_u32(const std::uint32_t* src, std::uint32_t* dst, std::uint32_t salt,
                        std::uint32_t src_n, std::uint32_t n) {
  const std::uint64_t i = global_x();
  if (overlap(src, src_n, dst, n)) {
    // Aliased: the CPU's ascending element order, on one thread.
    if (i != 0) return;
    for (std::uint32_t k = 0; k < n; ++k) {
      const std::uint32_t s = src[k % src_n];
      dst[k] = dst[k] * 31U + (s ^ salt);
    }
    return;
  }
  if (i >= n) return;
  const std::uint32_t s = src_n == 0 ? 0U : src[i % src_n];
  dst[i] = dst[i] * 31U + (s ^ salt);
}

__global__ void log_order(std::uint32_t* log, std::uint32_t id) {
  if (threadIdx.x != 0 || threadIdx.y != 0 || threadIdx.z != 0) return;
  const std::uint32_t at = atomicAdd(log, 1U);
  log[1 + at] = id;
}

__global__ void big_value(BigValue /*v*/) {}

__global__ void two_values(std::uint32_t /*narrow*/, std::uint64_t /*wide*/) {}

}  // namespace

PortableCudaKernels portable_cuda_kernels() {
  return {reinterpret_cast<const void*>(&fill_u32), reinterpret_cast<const void*>(&mix_u32),
          reinterpret_cast<const void*>(&log_order), reinterpret_cast<const void*>(&big_value),
          reinterpret_cast<const void*>(&two_values)};
}

}  // namespace encore::testing
