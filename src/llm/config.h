#pragma once

/// \file
/// The shape of a Llama / Qwen2 decoder: read from a Hugging Face `config.json`, or one of the
/// named shapes encore-llm can fill with random weights. Every later stage (weights, the decode
/// step, roofline accounting) works from a validated ModelConfig.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace encore::llm {

enum class Architecture : std::uint8_t {
  Llama,  ///< LlamaForCausalLM
  Qwen2,  ///< Qwen2ForCausalLM: q/k/v projections carry biases
};

std::string_view to_string(Architecture arch) noexcept;

/// Rotary embedding frequency scaling (Hugging Face `rope_scaling`).
struct RopeScaling {
  enum class Type : std::uint8_t {
    None,
    Linear,  ///< every inverse frequency divided by `factor`
    Llama3,  ///< Llama 3.1+: low frequencies divided by `factor`, a smooth band in between
  };
  Type type = Type::None;
  float factor = 1.0F;
  float low_freq_factor = 1.0F;
  float high_freq_factor = 4.0F;
  std::uint32_t original_max_position_embeddings = 8192;
};

/// Everything the decoder needs to know about a model. Sizes are element counts.
struct ModelConfig {
  std::string name;  ///< the named shape, or the checkpoint directory
  Architecture arch = Architecture::Llama;
  std::uint32_t hidden_size = 0;
  std::uint32_t intermediate_size = 0;
  std::uint32_t num_layers = 0;
  std::uint32_t num_heads = 0;
  std::uint32_t num_kv_heads = 0;
  std::uint32_t head_dim = 0;
  std::uint32_t vocab_size = 0;
  std::uint32_t max_position_embeddings = 0;
  float rms_norm_eps = 1e-5F;
  float rope_theta = 10000.0F;
  RopeScaling rope_scaling;
  /// The lm_head is the embedding table (no separate lm_head.weight tensor).
  bool tie_word_embeddings = false;
  /// q/k/v projections have biases (always for Qwen2).
  bool qkv_bias = false;

  std::uint32_t q_dim() const { return num_heads * head_dim; }
  std::uint32_t kv_dim() const { return num_kv_heads * head_dim; }
  /// Rows of the fused q|k|v projection.
  std::uint32_t qkv_rows() const { return q_dim() + 2 * kv_dim(); }
  /// Parameters (elements) of every weight, counting a tied lm_head once.
  std::uint64_t parameter_count() const;
};

/// Parses the text of a Hugging Face config.json. `source` names the file in errors. Throws
/// Error(InvalidArgument) naming the file and the key for malformed JSON, a missing or
/// out-of-range field, an unsupported architecture or rope scaling, or an inconsistent shape.
ModelConfig parse_config(std::string_view json_text, std::string_view source);

/// The config as Hugging Face config.json text (parse_config reads it back unchanged).
std::string to_json(const ModelConfig& config);

/// Reads and parses `<directory>/config.json`.
ModelConfig load_config(const std::string& directory);

/// Names accepted by named_config(): "tiny", "tiny-qwen2", "llama-3.2-1b", "qwen2.5-0.5b".
std::vector<std::string> named_configs();

/// The shape of a named model (the published configs of Llama-3.2-1B and Qwen2.5-0.5B; the
/// tiny shapes are small enough for the CPU backend). Throws Error(InvalidArgument) listing the
/// known names for any other name.
ModelConfig named_config(std::string_view name);

/// Checks the shape is one the decoder can run (positive sizes, heads divisible by kv heads,
/// even head_dim, q_dim == heads * head_dim). Throws Error(InvalidArgument) naming the field.
void validate(const ModelConfig& config);

/// Rotary inverse frequencies, head_dim / 2 of them, with the config's rope scaling applied
/// (the same computation as Hugging Face's rope initialisation functions).
std::vector<float> rope_inverse_frequencies(const ModelConfig& config);

}  // namespace encore::llm
