#pragma once

// An independent scalar forward pass of the Llama / Qwen2 decoder, written from the model's
// definition (Hugging Face modeling_llama / modeling_qwen2) with plain loops in double
// precision, to check encore-llm against. It shares nothing with src/llm but the host weights
// (and their documented layout: q|k|v rows, gate|up rows). Like encore-llm it keeps the KV cache
// in bf16, the model's storage format; everything else is double.

#include <cstdint>
#include <vector>

#include "llm/weights.h"

namespace encore::testing {

class ReferenceModel {
 public:
  explicit ReferenceModel(const llm::HostWeights& weights);

  /// Runs `token` at position `pos` (positions must come in order 0, 1, 2...) and returns the
  /// logits for the next position.
  std::vector<double> step(std::uint32_t token, std::uint32_t pos);

  /// Greedy decoding: the prompt, then `n` tokens (lowest index wins ties).
  std::vector<std::uint32_t> generate(const std::vector<std::uint32_t>& prompt, std::uint32_t n);

 private:
  const llm::HostWeights& w_;
  std::vector<double> inv_freq_;
  // Per layer: [pos][kv_dim] K and V rounded to bf16.
  std::vector<std::vector<double>> k_cache_, v_cache_;
};

std::uint32_t argmax(const std::vector<double>& values);

}  // namespace encore::testing
