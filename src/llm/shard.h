#pragma once

/// \file
/// The Megatron layout of a tensor-parallel decoder over N ranks (docs/adr/0007-collectives.md):
///  - q/k/v and gate/up are column-parallel: rank r holds q heads [r nh/N, (r+1) nh/N), kv heads
///    [r nkv/N, (r+1) nkv/N) (with their Qwen2 biases) and rows [r ffn/N, (r+1) ffn/N) of gate
///    and of up, so its attention and its silu*mul need nothing from the other ranks;
///  - o and down are row-parallel: rank r holds the input columns that match its heads (of o)
///    and its ffn rows (of down), so each rank's o and down give a partial sum of the full
///    output, which one all_reduce per attention and per MLP completes;
///  - the embedding, the norms and the lm_head are replicated.
///
/// A rank's weights are HostWeights of rank_config(): the model's shape with its share of the
/// heads and ffn rows, in the fused layouts of weights.h (q|k|v rows, gate rows then up rows),
/// so the decode step runs a shard as it runs a whole model, plus the all_reduces.

#include <cstdint>

#include "llm/config.h"
#include "llm/weights.h"

namespace encore::llm {

/// Throws Error(InvalidArgument) naming the model, the shape and `ranks` when the model cannot
/// be split over `ranks` ranks: ranks must be at least 1 and divide num_attention_heads,
/// num_key_value_heads and intermediate_size. (hidden_size need not divide: every rank computes
/// the whole hidden state.)
void check_tensor_parallel(const ModelConfig& config, std::uint32_t ranks);

/// The shape one of `ranks` ranks computes: heads, kv heads and intermediate_size divided by
/// ranks, everything else the model's. Throws as check_tensor_parallel.
ModelConfig rank_config(const ModelConfig& config, std::uint32_t ranks);

/// Rank `rank`'s share of `weights` (see the file comment), copied. Throws as
/// check_tensor_parallel, and Error(InvalidArgument) for rank >= ranks.
HostWeights shard_weights(const HostWeights& weights, std::uint32_t rank, std::uint32_t ranks);

}  // namespace encore::llm
