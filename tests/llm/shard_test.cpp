// The Megatron split of host weights (src/llm/shard.h): the ranks' slices of q/k/v (and their
// biases), gate|up, o and down put back together give the model's matrices exactly; the rest is
// replicated; a rank's config divides the heads and ffn rows; bad rank counts are refused with
// the shape and the count.

#include "llm/shard.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/error.h"

#include "llm/weights.h"
#include "llm_support/test_shapes.h"
#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;

// Appends rows [first, first + count) of a row-major matrix with `width` columns.
template <class T>
void append_rows(const std::vector<T>& m, std::size_t width, std::size_t first, std::size_t count,
                 std::vector<T>& out) {
  out.insert(out.end(), m.begin() + static_cast<std::ptrdiff_t>(first * width),
             m.begin() + static_cast<std::ptrdiff_t>((first + count) * width));
}

// The full q|k|v tensor from the ranks' parts: every rank's q rows, then every rank's k rows,
// then every rank's v rows.
template <class T>
std::vector<T> join_qkv(const std::vector<std::vector<T>>& parts, const ModelConfig& part,
                        std::size_t width) {
  std::vector<T> out;
  const std::size_t q = part.q_dim();
  const std::size_t kv = part.kv_dim();
  for (const auto& p : parts) append_rows(p, width, 0, q, out);
  for (const auto& p : parts) append_rows(p, width, q, kv, out);
  for (const auto& p : parts) append_rows(p, width, q + kv, kv, out);
  return out;
}

// The full gate|up matrix: every rank's gate rows, then every rank's up rows.
std::vector<std::uint16_t> join_gate_up(const std::vector<std::vector<std::uint16_t>>& parts,
                                        std::size_t ffn_part, std::size_t width) {
  std::vector<std::uint16_t> out;
  for (const auto& p : parts) append_rows(p, width, 0, ffn_part, out);
  for (const auto& p : parts) append_rows(p, width, ffn_part, ffn_part, out);
  return out;
}

// A row-parallel matrix [rows, ranks * part_cols] from the ranks' column blocks.
std::vector<std::uint16_t> join_columns(const std::vector<std::vector<std::uint16_t>>& parts,
                                        std::size_t rows, std::size_t part_cols) {
  std::vector<std::uint16_t> out;
  for (std::size_t r = 0; r < rows; ++r) {
    for (const auto& p : parts) append_rows(p, part_cols, r, 1, out);
  }
  return out;
}

void expect_shards_rebuild(const ModelConfig& config, std::uint32_t ranks) {
  SCOPED_TRACE(config.name + " over " + std::to_string(ranks) + " ranks");
  const HostWeights full = random_weights(config, 5);
  std::vector<HostWeights> shards;
  for (std::uint32_t r = 0; r < ranks; ++r) shards.push_back(shard_weights(full, r, ranks));
  const ModelConfig& part = shards[0].config;
  const std::size_t h = config.hidden_size;
  for (std::size_t l = 0; l < full.layers.size(); ++l) {
    SCOPED_TRACE("layer " + std::to_string(l));
    std::vector<std::vector<std::uint16_t>> qkv, o, gate_up, down;
    std::vector<std::vector<float>> bias;
    for (const HostWeights& s : shards) {
      const HostLayer& layer = s.layers[l];
      EXPECT_EQ(layer.qkv.size(), std::size_t{part.qkv_rows()} * h);
      EXPECT_EQ(layer.o.size(), h * part.q_dim());
      EXPECT_EQ(layer.gate_up.size(), 2 * std::size_t{part.intermediate_size} * h);
      EXPECT_EQ(layer.down.size(), h * part.intermediate_size);
      EXPECT_EQ(layer.attn_norm, full.layers[l].attn_norm);
      EXPECT_EQ(layer.mlp_norm, full.layers[l].mlp_norm);
      qkv.push_back(layer.qkv);
      bias.push_back(layer.qkv_bias);
      o.push_back(layer.o);
      gate_up.push_back(layer.gate_up);
      down.push_back(layer.down);
    }
    EXPECT_EQ(join_qkv(qkv, part, h), full.layers[l].qkv);
    if (config.qkv_bias) {
      EXPECT_EQ(join_qkv(bias, part, 1), full.layers[l].qkv_bias);
    }
    EXPECT_EQ(join_gate_up(gate_up, part.intermediate_size, h), full.layers[l].gate_up);
    EXPECT_EQ(join_columns(o, h, part.q_dim()), full.layers[l].o);
    EXPECT_EQ(join_columns(down, h, part.intermediate_size), full.layers[l].down);
  }
  for (const HostWeights& s : shards) {
    EXPECT_EQ(s.embedding, full.embedding);
    EXPECT_EQ(s.lm_head, full.lm_head);
    EXPECT_EQ(s.final_norm, full.final_norm);
  }
}

// The ranks' slices put back in rank order are the model's matrices, bit for bit: Llama, Qwen2
// with q/k/v biases and a tied lm_head, and four ranks of one kv head each.
TEST(LlmShard, RankSlicesRebuildTheFullMatrices) {
  expect_shards_rebuild(named_config("tiny"), 2);
  expect_shards_rebuild(named_config("tiny-qwen2"), 2);
  expect_shards_rebuild(tiny_with_four_kv_heads(), 4);
  expect_shards_rebuild(tiny_with_four_kv_heads(), 2);
}

// One rank of a split computes a model of its share of the heads and ffn rows; one rank is
// the whole model.
TEST(LlmShard, RankConfigDividesTheHeadsAndTheFfn) {
  const ModelConfig part = rank_config(tiny_with_four_kv_heads(), 4);
  EXPECT_EQ(part.num_heads, 2U);
  EXPECT_EQ(part.num_kv_heads, 1U);
  EXPECT_EQ(part.intermediate_size, 128U);
  EXPECT_EQ(part.hidden_size, 256U);
  EXPECT_EQ(part.head_dim, 64U);
  EXPECT_EQ(part.vocab_size, 1024U);
  const ModelConfig whole = rank_config(named_config("tiny"), 1);
  EXPECT_EQ(whole.num_heads, 4U);
  EXPECT_EQ(whole.intermediate_size, 512U);
  EXPECT_EQ(shard_weights(random_weights(named_config("tiny"), 5), 0, 1).layers[0].qkv,
            random_weights(named_config("tiny"), 5).layers[0].qkv);
}

// Rank counts that do not divide the shape are refused, naming the model, the field, its value
// and the count.
TEST(LlmShard, RankCountsThatDoNotDivideTheShapeAreRefused) {
  const ModelConfig tiny = named_config("tiny");
  const auto refusal = [](const ModelConfig& c, std::uint32_t ranks) {
    return error_from([&] { check_tensor_parallel(c, ranks); });
  };
  const Error zero = refusal(tiny, 0);
  EXPECT_EQ(zero.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(zero.what(),
                       "tensor parallelism of 'tiny' over 0 ranks: the rank count "
                       "must be at least 1"));
  EXPECT_TRUE(mentions(refusal(tiny, 3).what(),
                       "tensor parallelism of 'tiny' over 3 ranks: num_attention_heads (4) is not "
                       "a multiple of 3"));
  EXPECT_TRUE(mentions(refusal(tiny, 4).what(), "num_key_value_heads (2) is not a multiple of 4"));
  ModelConfig odd_ffn = tiny;
  odd_ffn.intermediate_size = 513;
  EXPECT_TRUE(
      mentions(refusal(odd_ffn, 2).what(), "intermediate_size (513) is not a multiple of 2"));
  EXPECT_TRUE(mentions(error_from([&] { (void)rank_config(tiny, 3); }).what(), "over 3 ranks"));
  const HostWeights w = random_weights(tiny, 5);
  EXPECT_TRUE(mentions(error_from([&] { (void)shard_weights(w, 2, 2); }).what(),
                       "rank 2 is not below the 2 ranks"));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
