#pragma once

/// \file
/// Model weights: on the host as loaded or generated, then on a device as the decode step binds
/// them. Matrices and the embedding table are bf16; norm weights and biases f32. So that a
/// layer is few wide gemvs, q/k/v are one matrix [q_dim + 2 kv_dim, hidden] (rows q, then k,
/// then v; biases likewise) and gate/up one matrix [2 intermediate, hidden] (gate rows first).

#include <cstdint>
#include <string>
#include <vector>

#include "encore/buffer.h"
#include "encore/device.h"

#include "llm/config.h"

namespace encore::llm {

struct HostLayer {
  std::vector<float> attn_norm;        ///< [hidden]
  std::vector<std::uint16_t> qkv;      ///< bf16 [qkv_rows, hidden]
  std::vector<float> qkv_bias;         ///< [qkv_rows]; empty without biases
  std::vector<std::uint16_t> o;        ///< bf16 [hidden, q_dim]
  std::vector<float> mlp_norm;         ///< [hidden]
  std::vector<std::uint16_t> gate_up;  ///< bf16 [2 intermediate, hidden]
  std::vector<std::uint16_t> down;     ///< bf16 [hidden, intermediate]
};

struct HostWeights {
  ModelConfig config;
  std::vector<std::uint16_t> embedding;  ///< bf16 [vocab, hidden]
  std::vector<std::uint16_t> lm_head;    ///< bf16 [vocab, hidden]; empty when tied
  std::vector<float> final_norm;         ///< [hidden]
  std::vector<HostLayer> layers;

  /// The lm_head matrix (the embedding when tied).
  const std::vector<std::uint16_t>& output_matrix() const {
    return config.tie_word_embeddings ? embedding : lm_head;
  }
};

/// Reads a Hugging Face checkpoint directory (config.json + safetensors). Matrices must be BF16;
/// norm weights and biases BF16 or F32. Throws Error(InvalidArgument) naming the file and tensor
/// for a missing tensor, a wrong dtype or a wrong shape.
HostWeights load_checkpoint(const std::string& directory);

/// Deterministic random weights for `config` (same seed, same weights on every machine). Scaled
/// so activations keep their size through the layers and logits spread over several units
/// (not flat), so greedy decoding is stable against rounding.
HostWeights random_weights(const ModelConfig& config, std::uint64_t seed);

/// Writes `weights` as a Hugging Face checkpoint directory (config.json + model.safetensors,
/// q/k/v and gate/up split back into their tensors), so other tools can load the same model.
void save_checkpoint(const HostWeights& weights, const std::string& directory);

struct DeviceLayer {
  Buffer attn_norm, qkv, qkv_bias, o, mlp_norm, gate_up, down;  ///< qkv_bias null without bias
};

/// Weights uploaded to one device.
struct DeviceWeights {
  ModelConfig config;
  Buffer embedding;
  Buffer lm_head;  ///< the embedding buffer itself when tied
  Buffer final_norm;
  Buffer rope_inv_freq;  ///< f32 [head_dim / 2], scaling applied
  std::vector<DeviceLayer> layers;
};

/// Uploads every tensor (one buffer each, labelled with its role).
DeviceWeights upload(Device& device, const HostWeights& weights);

}  // namespace encore::llm
