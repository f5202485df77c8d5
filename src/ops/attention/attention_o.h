#pragma once

// Decode attention followed by its output projection, in one dispatch (a decode step's
// attention and o gemv without the kernel boundary between them):
//
//  attention_o_decode_hd{64,128}_bf16, grid = the device's multiprocessors (one block each, all
//  resident at once), 128 threads. y[rows] = W_o[rows, n_heads * head_dim] (bf16) times the
//  attention of q over cache rows [0, kv_len), as attention_decode computes it.
//   1. Before the PDL wait, block b copies its rows of W_o, [b * rows_per_block, ...), into
//      shared memory (cp.async) and asks L2 for the K/V rows of its attention items: the
//      weights arrive while the predecessor (the qkv gemv) still runs.
//   2. After the wait, the attention items (q head h, split s), item = s * n_heads + h, are
//      spread over the blocks; each active one writes its chunk's (acc, m, l) to the scratch
//      and takes its head's ticket, and the last split of a head merges the head into x
//      (f32 [q_dim] in the scratch), as attention_decode's splits do.
//   3. A grid barrier, then every block reads x (q_dim floats, one round trip to L2) into
//      shared memory and multiplies its rows of W_o, already in shared memory, by x.
//  The splits per head are as many as fill the grid (grid / n_heads, at least 1), so a step's
//  attention is one round of items; the launch shape depends on the shape, rows and the device
//  only, so one recording serves every kv_len. kv_len is clamped to max_ctx; 0 gives y = 0.
//  The shared memory a block needs (its rows of W_o, then x and the merge weights) decides
//  whether a shape fits a device: attention_o_plan, and OpEncoder::attention_o_support.
//
// Scratch layout: attention_decode's (attention_scratch_layout with n_splits splits per head),
// then x (f32 [q_dim], 16-byte aligned: attention_o_x_offset), then two u32 of grid-barrier
// state. Zero-filled before first use (Device::alloc zero-fills); every dispatch leaves the
// tickets and the barrier's count at zero.

#include <cstdint>

#include "encore/kernel.h"
#include "encore/ops.h"

#include "ops/attention/attention.h"

namespace encore::ops::detail {

/// The value parameter of the kernel (trivially copyable).
struct AttentionOParams {
  AttentionParams attention;     ///< n_splits: splits per head
  std::uint32_t rows;            ///< output rows (of W_o and y)
  std::uint32_t rows_per_block;  ///< rows of W_o each block multiplies
};

/// Offset (in 4-byte words) of x in the scratch: after the attention layout, 16-byte aligned.
ENCORE_OPS_HOST_DEVICE inline std::uint64_t attention_o_x_offset(
    const AttentionScratchLayout& layout) {
  return (layout.words + 3) / 4 * 4;
}

struct AttentionOPlan {
  std::uint32_t grid = 0;  ///< blocks: one per multiprocessor
  std::uint32_t n_splits = 0;
  std::uint32_t min_rows = 0;
  std::uint32_t rows_per_block = 0;
  std::uint32_t shared_bytes = 0;  ///< dynamic shared memory of a block
  std::uint64_t scratch_bytes = 0;
};
/// The plan of a shape (can_attention holds) with `rows` output rows on a device of
/// `multiprocessors` multiprocessors.
AttentionOPlan attention_o_plan(const AttentionShape& shape, std::uint32_t rows,
                                std::uint32_t multiprocessors);

struct AttentionOCudaKernels {
  const void* hd64 = nullptr;
  const void* hd128 = nullptr;
};
AttentionOCudaKernels attention_o_cuda_kernels();

/// CPU reference: block 0 computes y (attention in double, one chunk per head, rounded to f32,
/// then the projection in double); the other blocks do nothing. The scratch is not touched.
void attention_o_decode_cpu(const CpuKernelContext& ctx);

void register_attention_o_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
