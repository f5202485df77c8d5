// Splitting host weights into the ranks of the Megatron layout: row slices of the
// column-parallel matrices, column slices of the row-parallel ones, replicas of the rest.

#include "llm/shard.h"

#include <string>
#include <vector>

#include "encore/error.h"

namespace encore::llm {

namespace {

// Appends rows [first, first + count) of a row-major matrix of `cols` columns to `out`.
template <class T>
void append_rows(const std::vector<T>& matrix, std::uint64_t cols, std::uint64_t first,
                 std::uint64_t count, std::vector<T>& out) {
  const auto begin = matrix.begin() + static_cast<std::ptrdiff_t>(first * cols);
  out.insert(out.end(), begin, begin + static_cast<std::ptrdiff_t>(count * cols));
}

// Columns [first, first + count) of every row of a row-major matrix of `cols` columns.
std::vector<std::uint16_t> column_slice(const std::vector<std::uint16_t>& matrix,
                                        std::uint64_t cols, std::uint64_t first,
                                        std::uint64_t count) {
  const std::uint64_t rows = matrix.size() / cols;
  std::vector<std::uint16_t> out;
  out.reserve(rows * count);
  for (std::uint64_t r = 0; r < rows; ++r) {
    const auto begin = matrix.begin() + static_cast<std::ptrdiff_t>(r * cols + first);
    out.insert(out.end(), begin, begin + static_cast<std::ptrdiff_t>(count));
  }
  return out;
}

// The rank's q heads, then its k heads, then its v heads, of a [qkv_rows, width] q|k|v tensor
// (width = hidden for the matrix, 1 for the bias).
template <class T>
std::vector<T> qkv_slice(const std::vector<T>& qkv, const ModelConfig& full,
                         const ModelConfig& part, std::uint32_t rank, std::uint64_t width) {
  const std::uint64_t q_rows = part.q_dim();
  const std::uint64_t kv_rows = part.kv_dim();
  std::vector<T> out;
  out.reserve(std::uint64_t{part.qkv_rows()} * width);
  append_rows(qkv, width, rank * q_rows, q_rows, out);
  append_rows(qkv, width, full.q_dim() + rank * kv_rows, kv_rows, out);
  append_rows(qkv, width, full.q_dim() + full.kv_dim() + rank * kv_rows, kv_rows, out);
  return out;
}

HostLayer shard_layer(const HostLayer& layer, const ModelConfig& full, const ModelConfig& part,
                      std::uint32_t rank) {
  const std::uint64_t h = full.hidden_size;
  const std::uint64_t ffn = part.intermediate_size;
  HostLayer out;
  out.attn_norm = layer.attn_norm;
  out.mlp_norm = layer.mlp_norm;
  out.qkv = qkv_slice(layer.qkv, full, part, rank, h);
  if (!layer.qkv_bias.empty()) out.qkv_bias = qkv_slice(layer.qkv_bias, full, part, rank, 1);
  out.o = column_slice(layer.o, full.q_dim(), std::uint64_t{rank} * part.q_dim(), part.q_dim());
  // The silu*mul gemv reads gate rows then up rows (weights.h), so the rank's gate rows come
  // first and its up rows after them.
  out.gate_up.reserve(2 * ffn * h);
  append_rows(layer.gate_up, h, rank * ffn, ffn, out.gate_up);
  append_rows(layer.gate_up, h, full.intermediate_size + rank * ffn, ffn, out.gate_up);
  out.down = column_slice(layer.down, full.intermediate_size, rank * ffn, ffn);
  return out;
}

}  // namespace

void check_tensor_parallel(const ModelConfig& c, std::uint32_t ranks) {
  const std::string where =
      "tensor parallelism of '" + c.name + "' over " + std::to_string(ranks) + " ranks: ";
  if (ranks == 0) {
    throw Error(ErrorCode::InvalidArgument, where + "the rank count must be at least 1");
  }
  const auto need_divides = [&](const char* field, std::uint32_t value) {
    if (value % ranks != 0) {
      throw Error(ErrorCode::InvalidArgument, where + field + " (" + std::to_string(value) +
                                                  ") is not a multiple of " +
                                                  std::to_string(ranks));
    }
  };
  need_divides("num_attention_heads", c.num_heads);
  need_divides("num_key_value_heads", c.num_kv_heads);
  need_divides("intermediate_size", c.intermediate_size);
}

ModelConfig rank_config(const ModelConfig& config, std::uint32_t ranks) {
  check_tensor_parallel(config, ranks);
  ModelConfig part = config;
  part.num_heads /= ranks;
  part.num_kv_heads /= ranks;
  part.intermediate_size /= ranks;
  return part;
}

HostWeights shard_weights(const HostWeights& weights, std::uint32_t rank, std::uint32_t ranks) {
  const ModelConfig& full = weights.config;
  const ModelConfig part = rank_config(full, ranks);
  if (rank >= ranks) {
    throw Error(ErrorCode::InvalidArgument, "tensor parallelism of '" + full.name + "': rank " +
                                                std::to_string(rank) + " is not below the " +
                                                std::to_string(ranks) + " ranks");
  }
  HostWeights out;
  out.config = part;
  out.embedding = weights.embedding;
  out.lm_head = weights.lm_head;
  out.final_norm = weights.final_norm;
  out.layers.reserve(weights.layers.size());
  for (const HostLayer& layer : weights.layers) {
    out.layers.push_back(shard_layer(layer, full, part, rank));
  }
  return out;
}

}  // namespace encore::llm
