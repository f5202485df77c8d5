// Hugging Face config.json parsing (Llama 3.2 and Qwen2.5 as published), the errors for bad
// configs, the named shapes, and rope inverse frequencies with llama3 scaling.

#include "llm/config.h"

#include <cmath>
#include <gtest/gtest.h>
#include <numbers>
#include <string>

#include "encore/error.h"

#include "support/test_support.h"

namespace encore::llm {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;

// Llama-3.2-1B's config.json as published (abridged to the fields a decoder reads, plus a few
// it ignores).
constexpr const char* kLlama = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
  "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
  "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128256,
  "attention_bias": false, "mlp_bias": false, "bos_token_id": 128000})";

constexpr const char* kQwen = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
  "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
  "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "rope_scaling": null,
  "sliding_window": 32768, "use_sliding_window": false, "tie_word_embeddings": true,
  "vocab_size": 151936})";

// The published Llama 3.2 config parses into the named llama-3.2-1b shape.
TEST(LlmConfig, ParsesLlama32AsPublished) {
  const ModelConfig c = parse_config(kLlama, "config.json");
  const ModelConfig named = named_config("llama-3.2-1b");
  EXPECT_EQ(c.arch, Architecture::Llama);
  EXPECT_EQ(c.hidden_size, named.hidden_size);
  EXPECT_EQ(c.intermediate_size, named.intermediate_size);
  EXPECT_EQ(c.num_layers, named.num_layers);
  EXPECT_EQ(c.num_heads, named.num_heads);
  EXPECT_EQ(c.num_kv_heads, named.num_kv_heads);
  EXPECT_EQ(c.head_dim, 64U);
  EXPECT_EQ(c.vocab_size, named.vocab_size);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0F);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 32.0F);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192U);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.parameter_count(), 1235814400ULL);  // Llama 3.2 1B's published 1.24 B
}

// The 8B-class shape of the tensor-parallel benchmark has Llama 3.1 8B's parameter count, untied
// embeddings and head_dim 128.
TEST(LlmConfig, NamedEightBillionShapeIsLlama31EightB) {
  const ModelConfig c = named_config("llama-3.1-8b");
  EXPECT_EQ(c.name, "llama-3.1-8b");
  EXPECT_EQ(named_config("llama-3.2-1b").name, "llama-3.2-1b");
  EXPECT_EQ(c.parameter_count(), 8030261248ULL);  // Llama 3.1 8B's published 8.03 B
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 128U);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Llama3);
}

// Qwen2 has q/k/v biases; head_dim defaults to hidden / heads.
TEST(LlmConfig, ParsesQwen25WithBiasesAndDerivedHeadDim) {
  const ModelConfig c = parse_config(kQwen, "config.json");
  EXPECT_EQ(c.arch, Architecture::Qwen2);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.head_dim, 64U);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::None);
  EXPECT_EQ(c.qkv_rows(), 896U + 2 * 128U);
  EXPECT_EQ(c.parameter_count(), 494032768ULL);  // Qwen2.5-0.5B's published 0.49 B
}

// transformers 5 moves rope_theta and the scaling into one rope_parameters object.
TEST(LlmConfig, ReadsTransformers5RopeParameters) {
  std::string v5 = kLlama;
  v5.replace(v5.find("\"rope_theta\": 500000.0,"), 23, "");
  v5.replace(v5.find("\"rope_scaling\""), 14, "\"rope_parameters\"");
  v5.replace(v5.find("\"rope_type\": \"llama3\""), 21,
             "\"rope_type\": \"llama3\", \"rope_theta\": 500000.0");
  const ModelConfig c = parse_config(v5, "config.json");
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0F);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 32.0F);
  const ModelConfig plain = parse_config(
      R"({"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 16,
          "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}})",
      "config.json");
  EXPECT_FLOAT_EQ(plain.rope_theta, 1000000.0F);
  EXPECT_EQ(plain.rope_scaling.type, RopeScaling::Type::None);
}

// to_json writes a config that parses back to the same shape.
TEST(LlmConfig, JsonRoundTripKeepsTheShape) {
  for (const std::string& name : named_configs()) {
    const ModelConfig a = named_config(name);
    const ModelConfig b = parse_config(to_json(a), name);
    EXPECT_EQ(b.arch, a.arch) << name;
    EXPECT_EQ(b.parameter_count(), a.parameter_count()) << name;
    EXPECT_EQ(b.tie_word_embeddings, a.tie_word_embeddings) << name;
    EXPECT_EQ(b.rope_scaling.type, a.rope_scaling.type) << name;
    EXPECT_EQ(rope_inverse_frequencies(b), rope_inverse_frequencies(a)) << name;
  }
}

// Each bad config names the file and what is wrong with it.
TEST(LlmConfig, BadConfigsNameTheFileAndTheField) {
  const auto message = [](const std::string& json) {
    return std::string(error_from([&] { parse_config(json, "dir/config.json"); }).what());
  };
  EXPECT_TRUE(mentions(message("{"), "dir/config.json: not valid JSON"));
  EXPECT_TRUE(mentions(message(R"({"architectures": ["GPT2LMHeadModel"]})"),
                       "unsupported architecture 'GPT2LMHeadModel'"));
  EXPECT_TRUE(mentions(message(R"({"model_type": "llama", "hidden_size": 64})"),
                       "missing field 'intermediate_size'"));
  EXPECT_TRUE(mentions(message(R"({"model_type": "llama", "hidden_size": -3})"),
                       "field 'hidden_size' must be a positive integer, got -3"));
  std::string bad_heads = kLlama;
  bad_heads.replace(bad_heads.find("\"num_key_value_heads\": 8"), 24, "\"num_key_value_heads\": 5");
  EXPECT_TRUE(mentions(message(bad_heads), "must be a multiple of num_key_value_heads (5)"));
  std::string yarn = kQwen;
  yarn.replace(yarn.find("\"rope_scaling\": null"), 20, R"("rope_scaling": {"type": "yarn"})");
  EXPECT_TRUE(mentions(message(yarn), "unsupported rope_scaling type 'yarn'"));
  std::string gelu = kQwen;
  gelu.replace(gelu.find("\"silu\""), 6, "\"gelu\"");
  EXPECT_TRUE(mentions(message(gelu), "unsupported hidden_act 'gelu'"));
}

// A missing directory is reported with the path.
TEST(LlmConfig, LoadConfigNamesAMissingFile) {
  EXPECT_TRUE(mentions(error_from([] { load_config("/nonexistent/model"); }).what(),
                       "/nonexistent/model/config.json: cannot open"));
}

// Unknown shape names list the known ones.
TEST(LlmConfig, UnknownShapeListsTheKnownNames) {
  EXPECT_TRUE(mentions(error_from([] { named_config("gpt-5"); }).what(),
                       "unknown model shape 'gpt-5' (known: tiny, tiny-qwen2, llama-3.2-1b"));
}

// Without scaling the frequencies are theta^(-2i/d); llama3 scaling leaves high frequencies
// alone, divides low ones by the factor and blends the band between.
TEST(LlmConfig, RopeFrequenciesFollowTheLlama3Bands) {
  ModelConfig c = named_config("llama-3.2-1b");
  const std::vector<float> scaled = rope_inverse_frequencies(c);
  c.rope_scaling = {};
  const std::vector<float> plain = rope_inverse_frequencies(c);
  ASSERT_EQ(plain.size(), 32U);
  for (std::uint32_t i = 0; i < 32; ++i) {
    EXPECT_FLOAT_EQ(plain[i], static_cast<float>(std::pow(500000.0, -2.0 * i / 64)));
    const double wavelen = 2 * std::numbers::pi / plain[i];
    if (wavelen < 8192.0 / 4) {
      EXPECT_FLOAT_EQ(scaled[i], plain[i]) << i;
    } else if (wavelen > 8192.0) {
      EXPECT_FLOAT_EQ(scaled[i], plain[i] / 32) << i;
    } else {
      EXPECT_LT(scaled[i], plain[i]) << i;
      EXPECT_GT(scaled[i], plain[i] / 32) << i;
    }
  }
  EXPECT_EQ(scaled[0], plain[0]);
  EXPECT_FLOAT_EQ(scaled[31], plain[31] / 32);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::llm
