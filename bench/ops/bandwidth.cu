// Streaming read kernel and its timing. Each thread reads 16-byte vectors, four in flight, with
// the same load the gemv uses for weights (ld.global.nc.L1::no_allocate), and folds them into a
// value that is stored only if it is impossible, so the reads cannot be optimised away.

#include <algorithm>
#include <cstdint>
#include <cuda_runtime.h>
#include <string>

#include "encore/error.h"

#include "bandwidth.h"

namespace encore::bench {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorCode::Internal, std::string(what) + ": " + cudaGetErrorString(status));
  }
}

__device__ __forceinline__ uint4 load_stream(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__global__ void read_all(const uint4* data, std::uint64_t count, std::uint32_t* sink) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  std::uint32_t acc = 0;
  std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < count; i += 4 * stride) {
    const uint4 a = load_stream(data + i);
    const uint4 b = load_stream(data + i + stride);
    const uint4 c = load_stream(data + i + 2 * stride);
    const uint4 d = load_stream(data + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^
           d.w;
  }
  for (; i < count; i += stride) {
    const uint4 a = load_stream(data + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9E3779B9U) *sink = acc;  // practically never; keeps the loads alive
}

}  // namespace

std::uint64_t l2_cache_bytes() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  int bytes = 0;
  check(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device), "cudaDeviceGetAttribute");
  return static_cast<std::uint64_t>(bytes);
}

double measure_read_bandwidth_gbs(std::uint64_t bytes, int repetitions) {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  int sms = 0;
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "attribute");
  void* data = nullptr;
  std::uint32_t* sink = nullptr;
  check(cudaMalloc(&data, bytes), "cudaMalloc (bandwidth buffer)");
  check(cudaMalloc(reinterpret_cast<void**>(&sink), sizeof(std::uint32_t)), "cudaMalloc");
  check(cudaMemset(data, 1, bytes), "cudaMemset");
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  const std::uint64_t count = bytes / sizeof(uint4);
  double best_ms = 1e30;
  for (int r = 0; r < repetitions + 1; ++r) {  // the first pass warms up
    check(cudaEventRecord(start), "cudaEventRecord");
    read_all<<<sms * 8, 512>>>(static_cast<const uint4*>(data), count, sink);
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (r > 0) best_ms = std::min(best_ms, static_cast<double>(ms));
  }
  check(cudaGetLastError(), "read_all");
  check(cudaEventDestroy(start), "cudaEventDestroy");
  check(cudaEventDestroy(stop), "cudaEventDestroy");
  check(cudaFree(sink), "cudaFree");
  check(cudaFree(data), "cudaFree");
  return static_cast<double>(count * sizeof(uint4)) / (best_ms * 1e-3) / 1e9;
}

}  // namespace encore::bench
