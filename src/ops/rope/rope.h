#pragma once

// rope_f32 (Rope): rotates x (f32 [n_heads, head_dim]) in place for position `pos` with inverse
// frequencies inv_freq (f32 [head_dim / 2]): pair j of each head turns by pos * inv_freq[j].
// NeoX pairs element j with j + head_dim / 2; interleaved pairs 2j with 2j + 1.
// Params: inout x, in inv_freq, value u32 pos, value u32 n_heads, value u32 head_dim,
// value u32 style (0 NeoX, 1 interleaved). Launch: n_heads * head_dim / 2 threads, one per pair.
//
// rope_kv_append_bf16 (KvAppend): the rope of q and k and the kv-cache append of a decode step in
// one dispatch. q (f32 [n_heads, head_dim]) is rotated in place; k (f32 [n_kv_heads, head_dim])
// is rotated on the way into row `pos` of k_cache, v copied into row `pos` of v_cache, both
// rounded to bf16 as kv_append rounds (k itself is not written). A pos at or past max_rows
// rotates q and writes no cache row. Same rotation, in the same f32 arithmetic, as rope_f32, so
// the result equals rope(q|k) followed by kv_append bit for bit on the CPU.
// Params: inout q, in k, in v, in inv_freq, inout k_cache, inout v_cache, value u32 pos,
// value RopeKvParams. Launch: (n_heads + 2 n_kv_heads) * head_dim / 2 threads: one per q pair,
// one per k pair, one per two v elements.

#include <cmath>
#include <cstdint>

#include "encore/kernel.h"

#include "ops/bf16.h"  // ENCORE_OPS_HOST_DEVICE

namespace encore::ops::detail {

/// The value parameter of rope_kv_append_bf16 and of gemv's rope outputs (trivially copyable;
/// 24 bytes).
struct RopeKvParams {
  std::uint32_t n_heads;
  std::uint32_t n_kv_heads;
  std::uint32_t head_dim;
  std::uint32_t style;     ///< 0 NeoX, 1 interleaved
  std::uint32_t max_rows;  ///< rows of each cache
  /// gemv's rope outputs only: 1 when the caches are a single staging row, which receives k
  /// and v whatever pos (GemvRopeKv::staged); rope_kv_append_bf16 takes 0.
  std::uint32_t one_row;
};

/// The cache row a rope output writes k and v of position `pos` into, or kNoCacheRow (pos at or
/// past max_rows, no staging row).
inline constexpr std::uint32_t kNoCacheRow = ~0U;
ENCORE_OPS_HOST_DEVICE inline std::uint32_t rope_kv_row(const RopeKvParams& p, std::uint32_t pos) {
  if (p.one_row != 0) return 0;
  return pos < p.max_rows ? pos : kNoCacheRow;
}

/// The two elements rope turns together as pair `pair` (over consecutive heads of head_dim):
/// offsets from the first head's start. NeoX: j and j + head_dim / 2 of the head; interleaved:
/// 2j and 2j + 1.
struct RopePair {
  std::uint32_t a;
  std::uint32_t b;
  std::uint32_t j;  ///< index into inv_freq
};
ENCORE_OPS_HOST_DEVICE inline RopePair rope_pair(std::uint32_t pair, std::uint32_t head_dim,
                                                 std::uint32_t style) {
  const std::uint32_t half = head_dim / 2;
  const std::uint32_t base = (pair / half) * head_dim;
  const std::uint32_t j = pair % half;
  return style == 0 ? RopePair{base + j, base + j + half, j}
                    : RopePair{base + 2 * j, base + 2 * j + 1, j};
}

/// CPU: (x0, x1) turned by the f32 angle pos * inv_freq_j (std::cos, std::sin of the f32
/// angle), the arithmetic of every CPU rope reference.
struct Turned {
  float a;
  float b;
};
inline Turned rope_turn_cpu(float x0, float x1, std::uint32_t pos, float inv_freq_j) {
  const float angle = static_cast<float>(pos) * inv_freq_j;
  const float c = std::cos(angle);
  const float s = std::sin(angle);
  return {x0 * c - x1 * s, x0 * s + x1 * c};
}

/// Work items (threads) of rope_kv_append_bf16.
inline std::uint64_t rope_kv_items(const RopeKvParams& p) {
  return (std::uint64_t{p.n_heads} + 2ULL * p.n_kv_heads) * (p.head_dim / 2);
}

inline constexpr std::uint32_t kRopeBlock = 128;

struct RopeCudaKernels {
  const void* rope = nullptr;
  const void* rope_kv_append = nullptr;
};
RopeCudaKernels rope_cuda_kernels();

void rope_cpu(const CpuKernelContext& ctx);
void rope_kv_append_cpu(const CpuKernelContext& ctx);

void register_rope_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
