#include "llm_support/reference_model.h"

#include <cmath>
#include <numbers>

#include "llm/bf16.h"

namespace encore::testing {

namespace {

using llm::bf16_to_float;

double bf16(std::uint16_t v) { return bf16_to_float(v); }

// y = W x for W [rows, cols] bf16 starting at row `first`.
std::vector<double> matvec(const std::vector<std::uint16_t>& w, std::uint64_t first,
                           std::uint64_t rows, std::uint64_t cols, const std::vector<double>& x) {
  std::vector<double> y(rows, 0.0);
  for (std::uint64_t r = 0; r < rows; ++r) {
    double acc = 0.0;
    for (std::uint64_t c = 0; c < cols; ++c) acc += bf16(w[(first + r) * cols + c]) * x[c];
    y[r] = acc;
  }
  return y;
}

std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<float>& weight,
                             double eps) {
  double ss = 0.0;
  for (const double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * weight[i];
  return y;
}

// rotate_half rope: element i pairs with i + d/2.
void rope(double* head, std::uint32_t d, std::uint32_t pos, const std::vector<double>& inv_freq) {
  for (std::uint32_t i = 0; i < d / 2; ++i) {
    const double angle = pos * inv_freq[i];
    const double a = head[i];
    const double b = head[i + d / 2];
    head[i] = a * std::cos(angle) - b * std::sin(angle);
    head[i + d / 2] = b * std::cos(angle) + a * std::sin(angle);
  }
}

}  // namespace

std::uint32_t argmax(const std::vector<double>& values) {
  std::uint32_t best = 0;
  for (std::uint32_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

ReferenceModel::ReferenceModel(const llm::HostWeights& weights)
    : w_(weights), k_cache_(weights.config.num_layers), v_cache_(weights.config.num_layers) {
  const llm::ModelConfig& c = w_.config;
  for (std::uint32_t i = 0; i < c.head_dim / 2; ++i) {
    double f = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
    const llm::RopeScaling& s = c.rope_scaling;
    if (s.type == llm::RopeScaling::Type::Linear) f /= s.factor;
    if (s.type == llm::RopeScaling::Type::Llama3) {
      const double wavelen = 2 * std::numbers::pi / f;
      const double low = s.original_max_position_embeddings / s.low_freq_factor;
      const double high = s.original_max_position_embeddings / s.high_freq_factor;
      if (wavelen > low) {
        f /= s.factor;
      } else if (wavelen >= high) {
        const double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv_freq_.push_back(f);
  }
}

std::vector<double> ReferenceModel::step(std::uint32_t token, std::uint32_t pos) {
  const llm::ModelConfig& c = w_.config;
  const std::uint64_t h = c.hidden_size;
  const std::uint32_t d = c.head_dim;
  const std::uint32_t group = c.num_heads / c.num_kv_heads;
  std::vector<double> x(h);
  for (std::uint64_t i = 0; i < h; ++i) x[i] = bf16(w_.embedding[token * h + i]);

  for (std::uint32_t l = 0; l < c.num_layers; ++l) {
    const llm::HostLayer& layer = w_.layers[l];
    const std::vector<double> normed = rms_norm(x, layer.attn_norm, c.rms_norm_eps);
    std::vector<double> q = matvec(layer.qkv, 0, c.q_dim(), h, normed);
    std::vector<double> k = matvec(layer.qkv, c.q_dim(), c.kv_dim(), h, normed);
    std::vector<double> v = matvec(layer.qkv, c.q_dim() + c.kv_dim(), c.kv_dim(), h, normed);
    if (!layer.qkv_bias.empty()) {
      for (std::uint32_t i = 0; i < c.q_dim(); ++i) q[i] += layer.qkv_bias[i];
      for (std::uint32_t i = 0; i < c.kv_dim(); ++i) {
        k[i] += layer.qkv_bias[c.q_dim() + i];
        v[i] += layer.qkv_bias[c.q_dim() + c.kv_dim() + i];
      }
    }
    for (std::uint32_t head = 0; head < c.num_heads; ++head) rope(&q[head * d], d, pos, inv_freq_);
    for (std::uint32_t head = 0; head < c.num_kv_heads; ++head)
      rope(&k[head * d], d, pos, inv_freq_);
    for (std::uint32_t i = 0; i < c.kv_dim(); ++i) {
      k_cache_[l].push_back(llm::round_bf16(static_cast<float>(k[i])));
      v_cache_[l].push_back(llm::round_bf16(static_cast<float>(v[i])));
    }

    std::vector<double> attn(c.q_dim(), 0.0);
    const std::uint32_t len = pos + 1;
    for (std::uint32_t head = 0; head < c.num_heads; ++head) {
      const std::uint32_t kv_head = head / group;
      std::vector<double> score(len);
      double max_score = -1e300;
      for (std::uint32_t t = 0; t < len; ++t) {
        double s = 0;
        for (std::uint32_t i = 0; i < d; ++i) {
          s += q[head * d + i] * k_cache_[l][std::uint64_t{t} * c.kv_dim() + kv_head * d + i];
        }
        score[t] = s / std::sqrt(static_cast<double>(d));
        max_score = std::max(max_score, score[t]);
      }
      double total = 0;
      for (double& s : score) total += (s = std::exp(s - max_score));
      for (std::uint32_t t = 0; t < len; ++t) {
        for (std::uint32_t i = 0; i < d; ++i) {
          attn[head * d + i] +=
              score[t] / total * v_cache_[l][std::uint64_t{t} * c.kv_dim() + kv_head * d + i];
        }
      }
    }
    const std::vector<double> o = matvec(layer.o, 0, h, c.q_dim(), attn);
    for (std::uint64_t i = 0; i < h; ++i) x[i] += o[i];

    const std::vector<double> normed2 = rms_norm(x, layer.mlp_norm, c.rms_norm_eps);
    const std::vector<double> gate = matvec(layer.gate_up, 0, c.intermediate_size, h, normed2);
    const std::vector<double> up =
        matvec(layer.gate_up, c.intermediate_size, c.intermediate_size, h, normed2);
    std::vector<double> act(c.intermediate_size);
    for (std::uint32_t i = 0; i < c.intermediate_size; ++i) {
      act[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
    }
    const std::vector<double> down = matvec(layer.down, 0, h, c.intermediate_size, act);
    for (std::uint64_t i = 0; i < h; ++i) x[i] += down[i];
  }
  const std::vector<double> final_normed = rms_norm(x, w_.final_norm, c.rms_norm_eps);
  return matvec(w_.output_matrix(), 0, c.vocab_size, h, final_normed);
}

std::vector<std::uint32_t> ReferenceModel::generate(const std::vector<std::uint32_t>& prompt,
                                                    std::uint32_t n) {
  std::vector<std::uint32_t> out;
  std::uint32_t pos = 0;
  std::vector<double> logits;
  for (const std::uint32_t t : prompt) logits = step(t, pos++);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t next = argmax(logits);
    out.push_back(next);
    if (i + 1 < n) logits = step(next, pos++);
  }
  return out;
}

}  // namespace encore::testing
