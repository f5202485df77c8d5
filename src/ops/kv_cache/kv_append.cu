// CUDA kv_append_bf16: one thread per element of the row, the same rounding as the CPU (bf16.h).

#include <cstdint>

#include "ops/bf16.h"
#include "ops/cuda_common.cuh"
#include "ops/kv_cache/kv_append.h"

namespace encore::ops::detail {

namespace {

__global__ void kv_append_bf16(const float* k, const float* v, std::uint16_t* k_cache,
                               std::uint16_t* v_cache, std::uint32_t row_elems, std::uint32_t pos,
                               std::uint32_t max_rows) {
  pdl_enter();
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (pos >= max_rows || i >= row_elems) return;
  const std::uint64_t at = std::uint64_t{pos} * row_elems + i;
  k_cache[at] = float_to_bf16(k[i]);
  v_cache[at] = float_to_bf16(v[i]);
}

}  // namespace

KvAppendCudaKernels kv_append_cuda_kernels() {
  return {.kv_append = reinterpret_cast<const void*>(&kv_append_bf16)};
}

}  // namespace encore::ops::detail
