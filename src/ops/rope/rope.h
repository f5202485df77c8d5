#pragma once

// rope_f32 (Rope): rotates x (f32 [n_heads, head_dim]) in place for position `pos` with inverse
// frequencies inv_freq (f32 [head_dim / 2]): pair j of each head turns by pos * inv_freq[j].
// NeoX pairs element j with j + head_dim / 2; interleaved pairs 2j with 2j + 1.
// Params: inout x, in inv_freq, value u32 pos, value u32 n_heads, value u32 head_dim,
// value u32 style (0 NeoX, 1 interleaved). Launch: n_heads * head_dim / 2 threads, one per pair.

#include "encore/kernel.h"

namespace encore::ops::detail {

struct RopeCudaKernels {
  const void* rope = nullptr;
};
RopeCudaKernels rope_cuda_kernels();

void rope_cpu(const CpuKernelContext& ctx);

void register_rope_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
