#pragma once

// kv_append_bf16 (KvAppend): k_cache[pos, :] = bf16(k), v_cache[pos, :] = bf16(v), rounding to
// nearest even. A pos at or past the caches' max_rows writes nothing (pos may be a slot).
// Params: in k, in v, inout k_cache, inout v_cache, value u32 row_elems, value u32 pos,
// value u32 max_rows. Launch: row_elems threads. The caches are declared inout as a whole: the
// row written depends on a per-step value, and every other row is kept.

#include "encore/kernel.h"

namespace encore::ops::detail {

struct KvAppendCudaKernels {
  const void* kv_append = nullptr;
};
KvAppendCudaKernels kv_append_cuda_kernels();

void kv_append_cpu(const CpuKernelContext& ctx);

void register_kv_append_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
