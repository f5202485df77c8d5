// Loading Hugging Face checkpoints into the fused host layout (q|k|v, gate|up), tied and untied
// embeddings, Qwen2 biases, random weights, and the errors naming a bad tensor.

#include "llm/weights.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/error.h"

#include "llm/bf16.h"
#include "llm/safetensors.h"
#include "llm_support/temp_dir.h"
#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;
using testing::TempDir;

void expect_same(const HostWeights& a, const HostWeights& b) {
  EXPECT_EQ(a.embedding, b.embedding);
  EXPECT_EQ(a.lm_head, b.lm_head);
  EXPECT_EQ(a.final_norm, b.final_norm);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].attn_norm, b.layers[l].attn_norm) << l;
    EXPECT_EQ(a.layers[l].qkv, b.layers[l].qkv) << l;
    EXPECT_EQ(a.layers[l].qkv_bias, b.layers[l].qkv_bias) << l;
    EXPECT_EQ(a.layers[l].o, b.layers[l].o) << l;
    EXPECT_EQ(a.layers[l].mlp_norm, b.layers[l].mlp_norm) << l;
    EXPECT_EQ(a.layers[l].gate_up, b.layers[l].gate_up) << l;
    EXPECT_EQ(a.layers[l].down, b.layers[l].down) << l;
  }
}

// A checkpoint saved in Hugging Face layout loads back into exactly the same fused weights:
// untied Llama, and tied Qwen2 with biases (no lm_head.weight tensor).
TEST(LlmWeights, SavedCheckpointsLoadBackExactly) {
  for (const char* shape : {"tiny", "tiny-qwen2"}) {
    TempDir dir;
    const HostWeights w = random_weights(named_config(shape), 11);
    save_checkpoint(w, dir.path());
    const Checkpoint ckpt = Checkpoint::open(dir.path());
    EXPECT_EQ(ckpt.find("lm_head.weight") == nullptr, w.config.tie_word_embeddings) << shape;
    EXPECT_EQ(ckpt.find("model.layers.0.self_attn.k_proj.bias") != nullptr, w.config.qkv_bias)
        << shape;
    const HostWeights loaded = load_checkpoint(dir.path());
    EXPECT_EQ(loaded.config.parameter_count(), w.config.parameter_count()) << shape;
    expect_same(loaded, w);
  }
}

// q, k and v land in row order q|k|v of the fused matrix; gate and up in gate|up.
TEST(LlmWeights, FusedMatricesStackTheHuggingFaceTensorsInOrder) {
  TempDir dir;
  const HostWeights w = random_weights(named_config("tiny-qwen2"), 5);
  save_checkpoint(w, dir.path());
  const Checkpoint ckpt = Checkpoint::open(dir.path());
  const ModelConfig& c = w.config;
  const TensorInfo* k = ckpt.find("model.layers.1.self_attn.k_proj.weight");
  const TensorInfo* up = ckpt.find("model.layers.1.mlp.up_proj.weight");
  const TensorInfo* v_bias = ckpt.find("model.layers.1.self_attn.v_proj.bias");
  ASSERT_TRUE(k && up && v_bias);
  const HostWeights loaded = load_checkpoint(dir.path());
  const auto bf16_at = [](const TensorInfo& t, std::size_t i) {
    std::uint16_t v = 0;
    std::memcpy(&v, t.data.data() + 2 * i, 2);
    return v;
  };
  const std::size_t h = c.hidden_size;
  EXPECT_EQ(loaded.layers[1].qkv[std::size_t{c.q_dim()} * h + 3], bf16_at(*k, 3));
  EXPECT_EQ(loaded.layers[1].gate_up[std::size_t{c.intermediate_size} * h + 5], bf16_at(*up, 5));
  float bias = 0;
  std::memcpy(&bias, v_bias->data.data() + 4, 4);
  EXPECT_EQ(loaded.layers[1].qkv_bias[c.q_dim() + c.kv_dim() + 1], bias);
}

// A checkpoint with a tensor removed, retyped or reshaped names that tensor.
TEST(LlmWeights, BadTensorsAreNamedWithTheReason) {
  const HostWeights w = random_weights(named_config("tiny"), 5);
  const auto load_with = [&](const std::string& name, const std::string& dtype,
                             std::vector<std::uint64_t> shape, bool drop) {
    TempDir dir;
    save_checkpoint(w, dir.path());
    const SafetensorsFile original = SafetensorsFile::open(dir.file("model.safetensors"));
    std::vector<TensorData> tensors;
    for (const auto& [n, t] : original.tensors()) {
      if (n == name && drop) continue;
      TensorData d{n, t.dtype, t.shape, {t.data.begin(), t.data.end()}};
      if (n == name) {
        d.dtype = dtype;
        d.shape = shape;
        std::uint64_t elements = 1;
        for (const auto s : shape) elements *= s;
        d.bytes.resize(elements * dtype_size(dtype));
      }
      tensors.push_back(std::move(d));
    }
    write_safetensors(dir.file("model.safetensors"), tensors);
    return std::string(error_from([&] { load_checkpoint(dir.path()); }).what());
  };
  EXPECT_TRUE(mentions(load_with("model.layers.1.mlp.down_proj.weight", "", {}, true),
                       "missing tensor 'model.layers.1.mlp.down_proj.weight'"));
  EXPECT_TRUE(
      mentions(load_with("lm_head.weight", "", {}, true), "missing tensor 'lm_head.weight'"));
  EXPECT_TRUE(
      mentions(load_with("model.layers.0.self_attn.q_proj.weight", "F32", {256, 256}, false),
               "tensor 'model.layers.0.self_attn.q_proj.weight' has dtype F32, expected BF16"));
  EXPECT_TRUE(
      mentions(load_with("model.layers.0.self_attn.o_proj.weight", "BF16", {256, 255}, false),
               "has shape [256, 255], expected [256, 256]"));
  EXPECT_TRUE(mentions(load_with("model.norm.weight", "I32", {256}, false),
                       "tensor 'model.norm.weight' has dtype I32, expected BF16 or F32"));
}

// Random weights are deterministic per seed, differ between seeds, and have the documented
// scale (embedding rows of standard deviation 3/sqrt(hidden)).
TEST(LlmWeights, RandomWeightsAreDeterministicAndScaled) {
  const ModelConfig c = named_config("tiny");
  const HostWeights a = random_weights(c, 9);
  expect_same(a, random_weights(c, 9));
  EXPECT_NE(a.embedding, random_weights(c, 10).embedding);
  double ss = 0;
  for (const std::uint16_t v : a.embedding) ss += std::pow(bf16_to_float(v), 2);
  const double std = std::sqrt(ss / static_cast<double>(a.embedding.size()));
  EXPECT_NEAR(std, 3.0 / std::sqrt(256.0), 0.01);
  EXPECT_EQ(a.layers[0].qkv.size(), std::size_t{c.qkv_rows()} * c.hidden_size);
  EXPECT_TRUE(a.layers[0].qkv_bias.empty());
}

// The values of random weights are part of the contract (benchmarks and checkpoints written
// by one version are compared with another's): a large table, which the generator fills in
// parallel, holds exactly the values of one sequential SplitMix64 stream (FNV-1a of the bits).
TEST(LlmWeights, RandomWeightValuesAreStable) {
  ModelConfig c = named_config("tiny");
  c.vocab_size = 40'000;  // a 10M-element embedding
  const HostWeights w = random_weights(c, 5);
  const auto fnv = [](const std::vector<std::uint16_t>& v) {
    std::uint64_t h = 0xCBF29CE484222325ULL;
    for (const std::uint16_t x : v) h = (h ^ x) * 0x100000001B3ULL;
    return h;
  };
  EXPECT_EQ(fnv(w.embedding), 0x6C1A903894E1BB45ULL);
  EXPECT_EQ(fnv(w.layers.back().down), 0x89ABED71507AFC65ULL);
}

// bf16 conversion rounds to nearest even and keeps NaN a NaN.
TEST(LlmWeights, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0F), 0x3F80);
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0F);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808000U)), 0x3F80);  // tie, even stays
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F818000U)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808001U)), 0x3F81);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
