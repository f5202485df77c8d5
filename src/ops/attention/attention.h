#pragma once

// Decode attention (Sdpa), flash-decoding style, in two dispatches:
//
//  1. attention_decode_hd{64,128}_bf16, grid (n_kv_heads, n_splits), 128 threads: block (g, s)
//     takes the s-th chunk of cache rows [0, kv_len) for kv head g and every q head of its
//     group (GQA: each K/V row is loaded once for the whole group). It scores the chunk
//     (q . k * scale) into shared memory, takes the chunk's max m and sum l of exp(score - m),
//     accumulates sum_t exp(score_t - m) v_t, and writes (acc, m, l) per q head to scratch.
//  2. attention_combine_f32, grid n_heads, head_dim threads: out = sum_s e^(m_s - M) acc_s /
//     sum_s e^(m_s - M) l_s over the splits that saw rows (l_s > 0).
//
// The launch shape depends on the AttentionShape only (n_splits is fixed at encode time; the
// chunk length ceil(kv_len / n_splits) is computed on the device), so one recording serves every
// kv_len. kv_len is clamped to max_ctx; kv_len = 0 writes zeros.
//
// KV cache layout: bf16 [max_ctx, n_kv_heads, head_dim] (row t = position t, as kv_append
// writes it). Scratch layout (f32): acc [n_splits][n_heads][head_dim], then m [n_splits][n_heads],
// then l [n_splits][n_heads].

#include <cstdint>

#include "encore/kernel.h"
#include "encore/ops.h"

namespace encore::ops::detail {

inline constexpr std::uint32_t kAttentionThreads = 128;
inline constexpr std::uint32_t kAttentionMaxGroup = 8;
/// Shared memory the split kernel may use (scores, then the cross-warp reduction).
inline constexpr std::uint32_t kAttentionSharedLimit = 32 * 1024;

/// The value parameter of both kernels (trivially copyable; 28 bytes).
struct AttentionParams {
  std::uint32_t n_heads;
  std::uint32_t n_kv_heads;
  std::uint32_t head_dim;
  std::uint32_t max_ctx;
  std::uint32_t n_splits;
  std::uint32_t chunk_capacity;  ///< ceil(max_ctx / n_splits): the longest chunk
  float scale;
};

/// How the work is split for a shape: n_splits and the split kernel's shared memory bytes;
/// n_splits = 0 when the shape cannot be split within the shared-memory limit.
struct AttentionPlan {
  std::uint32_t n_splits = 0;
  std::uint32_t chunk_capacity = 0;
  std::uint32_t shared_bytes = 0;
};
AttentionPlan attention_plan(const AttentionShape& shape);

struct AttentionCudaKernels {
  const void* split_hd64 = nullptr;
  const void* split_hd128 = nullptr;
  const void* combine = nullptr;
};
AttentionCudaKernels attention_cuda_kernels();

/// CPU references (same blocks, same scratch contents up to rounding).
void attention_split_cpu(const CpuKernelContext& ctx);
void attention_combine_cpu(const CpuKernelContext& ctx);

void register_attention_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
