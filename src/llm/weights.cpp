// Loading checkpoints into host weights (fusing q/k/v and gate/up), random weights, saving, and
// the upload to a device.

#include "llm/weights.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "encore/error.h"

#include "llm/bf16.h"
#include "llm/safetensors.h"

namespace encore::llm {

namespace {

constexpr std::string_view kBf16[] = {"BF16"};
constexpr std::string_view kVectorTypes[] = {"BF16", "F32"};

std::string layer_prefix(std::uint32_t layer) {
  return "model.layers." + std::to_string(layer) + ".";
}

// Appends the rows of a BF16 matrix [rows, cols] to `out`.
void append_matrix(const Checkpoint& ckpt, const std::string& name, std::uint64_t rows,
                   std::uint64_t cols, std::vector<std::uint16_t>& out) {
  const std::uint64_t shape[] = {rows, cols};
  const TensorInfo& t = ckpt.require(name, kBf16, shape);
  const std::size_t first = out.size();
  out.resize(first + rows * cols);
  std::memcpy(out.data() + first, t.data.data(), t.data.size());
}

// Appends a BF16 or F32 vector [n] to `out` as floats.
void append_vector(const Checkpoint& ckpt, const std::string& name, std::uint64_t n,
                   std::vector<float>& out) {
  const std::uint64_t shape[] = {n};
  const TensorInfo& t = ckpt.require(name, kVectorTypes, shape);
  const std::size_t first = out.size();
  out.resize(first + n);
  if (t.dtype == "F32") {
    std::memcpy(out.data() + first, t.data.data(), t.data.size());
  } else {
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint16_t v = 0;
      std::memcpy(&v, t.data.data() + 2 * i, 2);
      out[first + i] = bf16_to_float(v);
    }
  }
}

// SplitMix64: a small, fast, well-mixed generator; one stream per tensor. The state advances by a
// constant, so a stream can start at any element.
struct Random {
  static constexpr std::uint64_t kStep = 0x9E3779B97F4A7C15ULL;
  std::uint64_t state;
  /// The same stream, `n` values further on.
  Random skipped(std::uint64_t n) const { return {state + n * kStep}; }
  std::uint64_t next() {
    std::uint64_t z = (state += kStep);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1), from 24 random bits.
  float uniform() { return static_cast<float>(next() >> 40) * (2.0F / 16777216.0F) - 1.0F; }
};

class WeightGenerator {
 public:
  explicit WeightGenerator(std::uint64_t seed) : seed_(seed) {}

  // Uniform in [-a, a], a = std * sqrt(3) (so the standard deviation is `std`). Large matrices
  // are filled by every core, each part from its place in the one stream: the values do not
  // depend on the number of threads (an 8B-parameter model is 16 GB of them).
  std::vector<std::uint16_t> matrix(std::uint64_t elements, float std) {
    const Random first = stream();
    const float a = std * std::sqrt(3.0F);
    std::vector<std::uint16_t> m(elements);
    const auto fill = [&](std::uint64_t begin, std::uint64_t end) {
      Random r = first.skipped(begin);
      for (std::uint64_t i = begin; i < end; ++i) m[i] = float_to_bf16(a * r.uniform());
    };
    constexpr std::uint64_t kPart = 1U << 22;
    const std::uint64_t parts = (elements + kPart - 1) / kPart;
    const std::uint64_t threads =
        std::min<std::uint64_t>(parts, std::max(1U, std::thread::hardware_concurrency()));
    if (threads <= 1) {
      fill(0, elements);
      return m;
    }
    std::atomic<std::uint64_t> next{0};
    {
      std::vector<std::jthread> workers;  // joined at the end of the scope, before m is returned
      for (std::uint64_t t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
          for (std::uint64_t p = next++; p < parts; p = next++) {
            fill(p * kPart, std::min(elements, (p + 1) * kPart));
          }
        });
      }
    }
    return m;
  }
  std::vector<float> vector(std::uint64_t n, float center, float spread) {
    Random r = stream();
    std::vector<float> v(n);
    for (float& x : v) x = center + spread * r.uniform();
    return v;
  }

 private:
  Random stream() { return Random{seed_ * 0x2545F4914F6CDD1DULL + 0x632BE59BD9B4E019ULL * ++n_}; }

  std::uint64_t seed_;
  std::uint64_t n_ = 0;
};

// bf16 values as safetensors bytes.
std::vector<std::byte> bytes_of(std::span<const std::uint16_t> v) {
  std::vector<std::byte> b(v.size() * 2);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
std::vector<std::byte> bytes_of(std::span<const float> v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

template <class T>
Buffer upload_vector(Device& device, const std::vector<T>& v, const std::string& label) {
  Buffer b = device.alloc(v.size() * sizeof(T), label);
  b.upload(std::span<const T>(v));
  return b;
}

}  // namespace

HostWeights load_checkpoint(const std::string& directory) {
  HostWeights w;
  w.config = load_config(directory);
  const ModelConfig& c = w.config;
  const Checkpoint ckpt = Checkpoint::open(directory);
  const std::uint64_t h = c.hidden_size;
  append_matrix(ckpt, "model.embed_tokens.weight", c.vocab_size, h, w.embedding);
  if (!c.tie_word_embeddings) append_matrix(ckpt, "lm_head.weight", c.vocab_size, h, w.lm_head);
  append_vector(ckpt, "model.norm.weight", h, w.final_norm);
  w.layers.resize(c.num_layers);
  for (std::uint32_t l = 0; l < c.num_layers; ++l) {
    const std::string p = layer_prefix(l);
    HostLayer& layer = w.layers[l];
    append_vector(ckpt, p + "input_layernorm.weight", h, layer.attn_norm);
    append_vector(ckpt, p + "post_attention_layernorm.weight", h, layer.mlp_norm);
    append_matrix(ckpt, p + "self_attn.q_proj.weight", c.q_dim(), h, layer.qkv);
    append_matrix(ckpt, p + "self_attn.k_proj.weight", c.kv_dim(), h, layer.qkv);
    append_matrix(ckpt, p + "self_attn.v_proj.weight", c.kv_dim(), h, layer.qkv);
    if (c.qkv_bias) {
      append_vector(ckpt, p + "self_attn.q_proj.bias", c.q_dim(), layer.qkv_bias);
      append_vector(ckpt, p + "self_attn.k_proj.bias", c.kv_dim(), layer.qkv_bias);
      append_vector(ckpt, p + "self_attn.v_proj.bias", c.kv_dim(), layer.qkv_bias);
    }
    append_matrix(ckpt, p + "self_attn.o_proj.weight", h, c.q_dim(), layer.o);
    append_matrix(ckpt, p + "mlp.gate_proj.weight", c.intermediate_size, h, layer.gate_up);
    append_matrix(ckpt, p + "mlp.up_proj.weight", c.intermediate_size, h, layer.gate_up);
    append_matrix(ckpt, p + "mlp.down_proj.weight", h, c.intermediate_size, layer.down);
  }
  return w;
}

HostWeights random_weights(const ModelConfig& config, std::uint64_t seed) {
  validate(config);
  HostWeights w;
  w.config = config;
  const ModelConfig& c = config;
  const std::uint64_t h = c.hidden_size;
  const auto inv_sqrt = [](std::uint64_t n) { return 1.0F / std::sqrt(static_cast<float>(n)); };
  WeightGenerator gen(seed);
  // Normalised hidden states have unit RMS, so a row of standard deviation 3/sqrt(hidden) gives
  // logits of standard deviation about 3: a clear but not saturated top-1 over the vocabulary.
  w.embedding = gen.matrix(std::uint64_t{c.vocab_size} * h, 3.0F * inv_sqrt(h));
  if (!c.tie_word_embeddings) {
    w.lm_head = gen.matrix(std::uint64_t{c.vocab_size} * h, 3.0F * inv_sqrt(h));
  }
  w.final_norm = gen.vector(h, 1.0F, 0.1F);
  w.layers.resize(c.num_layers);
  for (HostLayer& layer : w.layers) {
    // Projections of standard deviation 1/sqrt(fan_in) keep unit-size inputs unit-size.
    layer.attn_norm = gen.vector(h, 1.0F, 0.1F);
    layer.qkv = gen.matrix(std::uint64_t{c.qkv_rows()} * h, inv_sqrt(h));
    if (c.qkv_bias) layer.qkv_bias = gen.vector(c.qkv_rows(), 0.0F, 0.5F);
    layer.o = gen.matrix(h * c.q_dim(), inv_sqrt(c.q_dim()));
    layer.mlp_norm = gen.vector(h, 1.0F, 0.1F);
    layer.gate_up = gen.matrix(2ULL * c.intermediate_size * h, inv_sqrt(h));
    layer.down = gen.matrix(h * c.intermediate_size, inv_sqrt(c.intermediate_size));
  }
  return w;
}

void save_checkpoint(const HostWeights& w, const std::string& directory) {
  const ModelConfig& c = w.config;
  std::filesystem::create_directories(directory);
  {
    std::ofstream config(directory + "/config.json");
    config << to_json(c);
    if (!config) throw Error(ErrorCode::InvalidArgument, directory + ": cannot write config.json");
  }
  const std::uint64_t h = c.hidden_size;
  std::vector<TensorData> t;
  const auto matrix = [&](std::string name, std::span<const std::uint16_t> all, std::uint64_t row,
                          std::uint64_t rows, std::uint64_t cols) {
    t.push_back(
        {std::move(name), "BF16", {rows, cols}, bytes_of(all.subspan(row * cols, rows * cols))});
  };
  const auto vec = [&](std::string name, std::span<const float> all, std::uint64_t first,
                       std::uint64_t n) {
    t.push_back({std::move(name), "F32", {n}, bytes_of(all.subspan(first, n))});
  };
  matrix("model.embed_tokens.weight", w.embedding, 0, c.vocab_size, h);
  if (!c.tie_word_embeddings) matrix("lm_head.weight", w.lm_head, 0, c.vocab_size, h);
  vec("model.norm.weight", w.final_norm, 0, h);
  for (std::uint32_t l = 0; l < c.num_layers; ++l) {
    const std::string p = layer_prefix(l);
    const HostLayer& layer = w.layers[l];
    vec(p + "input_layernorm.weight", layer.attn_norm, 0, h);
    vec(p + "post_attention_layernorm.weight", layer.mlp_norm, 0, h);
    matrix(p + "self_attn.q_proj.weight", layer.qkv, 0, c.q_dim(), h);
    matrix(p + "self_attn.k_proj.weight", layer.qkv, c.q_dim(), c.kv_dim(), h);
    matrix(p + "self_attn.v_proj.weight", layer.qkv, c.q_dim() + c.kv_dim(), c.kv_dim(), h);
    if (c.qkv_bias) {
      vec(p + "self_attn.q_proj.bias", layer.qkv_bias, 0, c.q_dim());
      vec(p + "self_attn.k_proj.bias", layer.qkv_bias, c.q_dim(), c.kv_dim());
      vec(p + "self_attn.v_proj.bias", layer.qkv_bias, c.q_dim() + c.kv_dim(), c.kv_dim());
    }
    matrix(p + "self_attn.o_proj.weight", layer.o, 0, h, c.q_dim());
    matrix(p + "mlp.gate_proj.weight", layer.gate_up, 0, c.intermediate_size, h);
    matrix(p + "mlp.up_proj.weight", layer.gate_up, c.intermediate_size, c.intermediate_size, h);
    matrix(p + "mlp.down_proj.weight", layer.down, 0, h, c.intermediate_size);
  }
  write_safetensors(directory + "/model.safetensors", t);
}

DeviceWeights upload(Device& device, const HostWeights& w) {
  DeviceWeights d;
  d.config = w.config;
  d.embedding = upload_vector(device, w.embedding, "embedding");
  d.lm_head =
      w.config.tie_word_embeddings ? d.embedding : upload_vector(device, w.lm_head, "lm_head");
  d.final_norm = upload_vector(device, w.final_norm, "final_norm");
  d.rope_inv_freq = upload_vector(device, rope_inverse_frequencies(w.config), "rope_inv_freq");
  d.layers.reserve(w.layers.size());
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const HostLayer& src = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    DeviceLayer layer;
    layer.attn_norm = upload_vector(device, src.attn_norm, p + "attn_norm");
    layer.qkv = upload_vector(device, src.qkv, p + "qkv");
    if (!src.qkv_bias.empty()) layer.qkv_bias = upload_vector(device, src.qkv_bias, p + "qkv_bias");
    layer.o = upload_vector(device, src.o, p + "o");
    layer.mlp_norm = upload_vector(device, src.mlp_norm, p + "mlp_norm");
    layer.gate_up = upload_vector(device, src.gate_up, p + "gate_up");
    layer.down = upload_vector(device, src.down, p + "down");
    d.layers.push_back(std::move(layer));
  }
  return d;
}

}  // namespace encore::llm
