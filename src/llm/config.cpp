// Hugging Face config.json -> ModelConfig, the named shapes, and rope frequency scaling.

#include "llm/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "encore/error.h"

namespace encore::llm {

namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, std::string(source) + ": " + what);
}

// A positive integer field; `fallback` (when non-zero) is used if the key is absent or null.
std::uint32_t positive(const json& j, std::string_view source, const char* key,
                       std::uint32_t fallback = 0) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback != 0) return fallback;
    fail(source, std::string("missing field '") + key + "'");
  }
  if (!it->is_number_integer() || it->get<std::int64_t>() <= 0 ||
      it->get<std::int64_t>() > std::numeric_limits<std::uint32_t>::max()) {
    fail(source, std::string("field '") + key + "' must be a positive integer, got " + it->dump());
  }
  return static_cast<std::uint32_t>(it->get<std::int64_t>());
}

float number(const json& j, std::string_view source, const char* key, float fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) {
    fail(source, std::string("field '") + key + "' must be a number, got " + it->dump());
  }
  return it->get<float>();
}

bool boolean(const json& j, std::string_view source, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) {
    fail(source, std::string("field '") + key + "' must be true or false, got " + it->dump());
  }
  return it->get<bool>();
}

Architecture parse_architecture(const json& j, std::string_view source) {
  std::string name;
  if (const auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty()) {
    name = it->front().is_string() ? it->front().get<std::string>() : it->front().dump();
  }
  const std::string model_type = j.value("model_type", std::string());
  if (name == "LlamaForCausalLM" || (name.empty() && model_type == "llama")) {
    return Architecture::Llama;
  }
  if (name == "Qwen2ForCausalLM" || (name.empty() && model_type == "qwen2")) {
    return Architecture::Qwen2;
  }
  fail(source, "unsupported architecture '" + (name.empty() ? model_type : name) +
                   "' (supported: LlamaForCausalLM, Qwen2ForCausalLM)");
}

// transformers < 5 writes `rope_theta` and `rope_scaling` at the top level; transformers 5 writes
// one `rope_parameters` object holding `rope_theta`, `rope_type` and the scaling fields.
const json* rope_object(const json& j, std::string_view source) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_object())
      fail(source, std::string("field '") + key + "' must be an object or null");
    return &*it;
  }
  return nullptr;
}

float parse_rope_theta(const json& j, std::string_view source) {
  const json* r = rope_object(j, source);
  return number(r != nullptr && r->contains("rope_theta") ? *r : j, source, "rope_theta", 10000.0F);
}

RopeScaling parse_rope_scaling(const json& j, std::string_view source) {
  RopeScaling s;
  const json* found = rope_object(j, source);
  if (found == nullptr) return s;
  const json& r = *found;
  // Older configs spell the type "type", newer ones "rope_type".
  const std::string type = r.value("rope_type", r.value("type", std::string("default")));
  if (type == "default") return s;
  s.factor = number(r, source, "factor", 1.0F);
  if (!(s.factor > 0.0F)) fail(source, "rope_scaling.factor must be positive");
  if (type == "linear") {
    s.type = RopeScaling::Type::Linear;
  } else if (type == "llama3") {
    s.type = RopeScaling::Type::Llama3;
    s.low_freq_factor = number(r, source, "low_freq_factor", 1.0F);
    s.high_freq_factor = number(r, source, "high_freq_factor", 4.0F);
    s.original_max_position_embeddings =
        positive(r, source, "original_max_position_embeddings", 8192);
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      fail(source, "rope_scaling: high_freq_factor must exceed low_freq_factor");
    }
  } else {
    fail(source,
         "unsupported rope_scaling type '" + type + "' (supported: default, linear, llama3)");
  }
  return s;
}

}  // namespace

std::string_view to_string(Architecture arch) noexcept {
  switch (arch) {
    case Architecture::Llama:
      return "llama";
    case Architecture::Qwen2:
      return "qwen2";
  }
  return "?";
}

std::uint64_t ModelConfig::parameter_count() const {
  const std::uint64_t h = hidden_size;
  const std::uint64_t per_layer = 2 * h                            // norms
                                  + std::uint64_t{qkv_rows()} * h  // q|k|v
                                  + (qkv_bias ? qkv_rows() : 0)    // biases
                                  + h * q_dim()                    // o
                                  + 3 * h * intermediate_size;     // gate, up, down
  const std::uint64_t embedding = std::uint64_t{vocab_size} * h;
  return embedding * (tie_word_embeddings ? 1 : 2) + h + per_layer * num_layers;
}

ModelConfig parse_config(std::string_view json_text, std::string_view source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail(source, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(source, "expected a JSON object");

  ModelConfig c;
  c.name = std::string(source);
  c.arch = parse_architecture(j, source);
  if (const auto act = j.value("hidden_act", std::string("silu")); act != "silu") {
    fail(source, "unsupported hidden_act '" + act + "' (supported: silu)");
  }
  c.hidden_size = positive(j, source, "hidden_size");
  c.intermediate_size = positive(j, source, "intermediate_size");
  c.num_layers = positive(j, source, "num_hidden_layers");
  c.num_heads = positive(j, source, "num_attention_heads");
  c.num_kv_heads = positive(j, source, "num_key_value_heads", c.num_heads);
  if (c.hidden_size % c.num_heads != 0 && !j.contains("head_dim")) {
    fail(source, "hidden_size is not a multiple of num_attention_heads and head_dim is not given");
  }
  c.head_dim = positive(j, source, "head_dim", c.hidden_size / c.num_heads);
  c.vocab_size = positive(j, source, "vocab_size");
  c.max_position_embeddings =
      positive(j, source, "max_position_embeddings", c.arch == Architecture::Qwen2 ? 32768 : 2048);
  c.rms_norm_eps = number(j, source, "rms_norm_eps", 1e-6F);
  c.rope_theta = parse_rope_theta(j, source);
  c.rope_scaling = parse_rope_scaling(j, source);
  c.tie_word_embeddings = boolean(j, source, "tie_word_embeddings", false);
  if (c.arch == Architecture::Qwen2) {
    c.qkv_bias = true;
    if (boolean(j, source, "use_sliding_window", false)) {
      fail(source, "use_sliding_window = true is not supported");
    }
  } else {
    if (boolean(j, source, "attention_bias", false)) {
      fail(source, "attention_bias = true is not supported for Llama (o_proj bias)");
    }
    if (boolean(j, source, "mlp_bias", false)) fail(source, "mlp_bias = true is not supported");
  }
  if (number(j, source, "partial_rotary_factor", 1.0F) != 1.0F) {
    fail(source, "partial_rotary_factor other than 1 is not supported");
  }
  try {
    validate(c);
  } catch (Error& e) {
    throw e.add_context(std::string(source));
  }
  return c;
}

std::string to_json(const ModelConfig& c) {
  const bool qwen = c.arch == Architecture::Qwen2;
  json j = {{"architectures", {qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
            {"model_type", qwen ? "qwen2" : "llama"},
            {"hidden_act", "silu"},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_layers},
            {"num_attention_heads", c.num_heads},
            {"num_key_value_heads", c.num_kv_heads},
            {"head_dim", c.head_dim},
            {"vocab_size", c.vocab_size},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"torch_dtype", "bfloat16"}};
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScaling::Type::Linear) {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", s.factor}};
  } else if (s.type == RopeScaling::Type::Llama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", s.factor},
                         {"low_freq_factor", s.low_freq_factor},
                         {"high_freq_factor", s.high_freq_factor},
                         {"original_max_position_embeddings", s.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  return j.dump(2) + "\n";
}

ModelConfig load_config(const std::string& directory) {
  const std::string path = directory + "/config.json";
  std::ifstream file(path);
  if (!file) throw Error(ErrorCode::InvalidArgument, path + ": cannot open (no config.json?)");
  std::ostringstream text;
  text << file.rdbuf();
  ModelConfig c = parse_config(text.str(), path);
  c.name = directory;
  return c;
}

namespace {

// What differs between the Llama 3 shapes; the rest (32 q and 8 kv heads, the vocabulary, rope
// theta and llama3 scaling from 8192 positions) they share.
struct Llama3Dims {
  std::uint32_t hidden;
  std::uint32_t ffn;
  std::uint32_t layers;
  std::uint32_t head_dim;
  float rope_factor;
  bool tied;
};

ModelConfig llama3_shape(const Llama3Dims& d) {
  ModelConfig c;
  c.arch = Architecture::Llama;
  c.hidden_size = d.hidden;
  c.intermediate_size = d.ffn;
  c.num_layers = d.layers;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = d.head_dim;
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5F;
  c.rope_theta = 500000.0F;
  c.rope_scaling = {.type = RopeScaling::Type::Llama3,
                    .factor = d.rope_factor,
                    .low_freq_factor = 1.0F,
                    .high_freq_factor = 4.0F,
                    .original_max_position_embeddings = 8192};
  c.tie_word_embeddings = d.tied;
  return c;
}

}  // namespace

std::vector<std::string> named_configs() {
  return {"tiny", "tiny-qwen2", "llama-3.2-1b", "qwen2.5-0.5b", "llama-3.1-8b"};
}

ModelConfig named_config(std::string_view name) {
  ModelConfig c;
  if (name == "tiny" || name == "tiny-qwen2") {
    // Small enough that a CPU step is a few milliseconds in a debug build, big enough to
    // exercise grouped-query attention (2 query heads per kv head) and several layers.
    const bool qwen = name == "tiny-qwen2";
    c.arch = qwen ? Architecture::Qwen2 : Architecture::Llama;
    c.hidden_size = 256;
    c.intermediate_size = 512;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 64;
    c.vocab_size = 1024;
    c.max_position_embeddings = 4096;
    c.rms_norm_eps = 1e-5F;
    c.rope_theta = 10000.0F;
    c.tie_word_embeddings = qwen;
    c.qkv_bias = qwen;
  } else if (name == "llama-3.2-1b") {
    c = llama3_shape({.hidden = 2048,
                      .ffn = 8192,
                      .layers = 16,
                      .head_dim = 64,
                      .rope_factor = 32.0F,
                      .tied = true});
  } else if (name == "llama-3.1-8b") {
    // The bandwidth-heavy shape of the tensor-parallel benchmark: 16 GB of bf16 weights.
    c = llama3_shape({.hidden = 4096,
                      .ffn = 14336,
                      .layers = 32,
                      .head_dim = 128,
                      .rope_factor = 8.0F,
                      .tied = false});
  } else if (name == "qwen2.5-0.5b") {
    c.arch = Architecture::Qwen2;
    c.hidden_size = 896;
    c.intermediate_size = 4864;
    c.num_layers = 24;
    c.num_heads = 14;
    c.num_kv_heads = 2;
    c.head_dim = 64;
    c.vocab_size = 151936;
    c.max_position_embeddings = 32768;
    c.rms_norm_eps = 1e-6F;
    c.rope_theta = 1000000.0F;
    c.tie_word_embeddings = true;
    c.qkv_bias = true;
  } else {
    std::string known;
    for (const std::string& n : named_configs()) {
      if (!known.empty()) known += ", ";
      known += n;
    }
    throw Error(ErrorCode::InvalidArgument,
                "unknown model shape '" + std::string(name) + "' (known: " + known + ")");
  }
  c.name = std::string(name);
  return c;
}

void validate(const ModelConfig& c) {
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::InvalidArgument, "model config: " + what);
  };
  need(c.hidden_size > 0 && c.intermediate_size > 0 && c.num_layers > 0 && c.vocab_size > 0,
       "hidden_size, intermediate_size, num_hidden_layers and vocab_size must be positive");
  need(c.num_heads > 0 && c.num_kv_heads > 0, "head counts must be positive");
  need(c.num_heads % c.num_kv_heads == 0, "num_attention_heads (" + std::to_string(c.num_heads) +
                                              ") must be a multiple of num_key_value_heads (" +
                                              std::to_string(c.num_kv_heads) + ")");
  need(c.head_dim > 0 && c.head_dim % 2 == 0,
       "head_dim must be positive and even, got " + std::to_string(c.head_dim));
  need(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0.0F, "rms_norm_eps must be positive");
  need(std::isfinite(c.rope_theta) && c.rope_theta > 1.0F, "rope_theta must be greater than 1");
  need(c.max_position_embeddings > 0, "max_position_embeddings must be positive");
}

std::vector<float> rope_inverse_frequencies(const ModelConfig& c) {
  const std::uint32_t half = c.head_dim / 2;
  std::vector<float> inv(half);
  const RopeScaling& s = c.rope_scaling;
  for (std::uint32_t i = 0; i < half; ++i) {
    // Hugging Face: 1 / theta^(2i / head_dim), in float64 here and rounded once.
    double f = 1.0 / std::pow(static_cast<double>(c.rope_theta), (2.0 * i) / c.head_dim);
    if (s.type == RopeScaling::Type::Linear) {
      f /= s.factor;
    } else if (s.type == RopeScaling::Type::Llama3) {
      const double old_len = s.original_max_position_embeddings;
      const double low_freq_wavelen = old_len / s.low_freq_factor;
      const double high_freq_wavelen = old_len / s.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

}  // namespace encore::llm
