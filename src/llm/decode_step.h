#pragma once

/// \file
/// One decode step of a Llama / Qwen2 decoder, encoded with the op library onto an encoder: the
/// token in `token` is embedded, runs through every layer at position `pos` (appending its K/V
/// to row `pos` of the caches and attending over rows [0, kv_len)), and the greedy next token
/// lands in `token` again (and in `history`) without leaving the device. Encoding it once with
/// slots and replaying it per token is the point of encore; encoding it per token with values
/// is the baseline ("re-record").

#include <cstdint>

#include "encore/arg.h"
#include "encore/buffer.h"
#include "encore/collective.h"
#include "encore/device.h"
#include "encore/encoder.h"
#include "encore/kernel.h"
#include "encore/ops.h"

#include "llm/config.h"
#include "llm/weights.h"

namespace encore::llm {

/// How the step is fused:
///  - `Fused` (the default): every fusion of the op library, 5 dispatches per layer: the norm
///    (with the residual add) is the prologue of the next gemv (qkv, gate|up, lm_head), rope
///    and the kv-cache append the epilogue of the qkv gemv, silu*mul that of the gate|up gemv
///    (4 with DecodeBuffers' attention_o: attention and the o projection as one
///    attention_o_decode);
///  - `Standalone`: the norms as their own hand-fused dispatches (rms_norm_mul,
///    add_rms_norm_mul), rope, kv_append and silu_mul separate: 11 dispatches per layer, what
///    the fusion pass makes of `Split`;
///  - `Split`: rms_norm then mul(weight), and add, rms_norm, mul for the residual adds, so the
///    fusion pass has work.
enum class NormMode : std::uint8_t { Split, Standalone, Fused };

std::string_view to_string(NormMode mode) noexcept;

/// Device memory one decode step works in: activations, the KV cache of every layer, and the
/// token buffers. Sized for `max_ctx` positions.
class DecodeBuffers {
 public:
  /// Throws Error(InvalidArgument) when the op library cannot run the model's shapes (names the
  /// op and why) or max_ctx is 0. With `attention_o`, the fused step runs attention and the o
  /// projection as one attention_o_decode (throws the same way where that op cannot run the
  /// shape on this device). Off by default: on an H100 it is still slower than the two
  /// dispatches (docs/architecture.md).
  DecodeBuffers(Device& device, const ModelConfig& config, std::uint32_t max_ctx,
                bool attention_o = false);

  std::uint32_t max_ctx() const noexcept { return max_ctx_; }
  const ops::AttentionShape& attention_shape() const noexcept { return attention_; }
  /// Whether the fused step runs attention and the o projection as one attention_o_decode.
  bool fuses_attention_o() const noexcept { return static_cast<bool>(attention_o_scratch_); }

  /// u32 [1]: the token the next step embeds.
  const Buffer& token() const noexcept { return token_; }
  /// u32 [max_ctx + 1]: the prompt, then every generated token, by position.
  const Buffer& history() const noexcept { return history_; }
  /// f32 [vocab]: the logits of the last step.
  const Buffer& logits() const noexcept { return logits_; }

  BufferView k_cache(std::uint32_t layer) const;
  BufferView v_cache(std::uint32_t layer) const;

 private:
  friend class StepEncoder;

  std::uint32_t max_ctx_;
  std::uint64_t cache_bytes_;  // one of K or V of one layer
  ops::AttentionShape attention_;
  Buffer residual_[2], normed_, norm_tmp_, qkv_, attn_, attn_out_, gate_up_, act_, mlp_out_;
  Buffer logits_, argmax_, token_, history_, attention_scratch_, argmax_scratch_, kv_cache_;
  Buffer attention_o_scratch_;  ///< null unless fuses_attention_o()
  /// The step's k and v row (bf16 [kv_dim]) between the fused qkv gemv and the attention that
  /// appends it to the layer's caches (fused norms without attention_o).
  Buffer k_staged_, v_staged_;
};

/// Per-step scalars: u32 values, or slots named "pos", "kv_len" and "prompt_len".
struct StepArgs {
  Arg pos;
  Arg kv_len;      ///< pos + 1
  Arg prompt_len;  ///< tokens of the prompt (teacher-forced positions)
};

/// The slots of a recorded step with their initial values.
StepArgs step_slots();
/// Plain values for position `pos`.
StepArgs step_values(std::uint32_t pos, std::uint32_t prompt_len);

/// Encodes decode steps. Resolves kernels once; cheap to reuse for every step.
class StepEncoder {
 public:
  /// With a communicator, `weights` are one rank's share of a tensor-parallel model (shard.h)
  /// and the step all-reduces the partial outputs of o and down (one all_reduce per attention
  /// and per MLP) before the residual adds them; without, the weights are the whole model.
  StepEncoder(Device& device, const DeviceWeights& weights, DecodeBuffers& buffers,
              Communicator communicator = {});

  /// Encodes one step. With `barriers`, inserts a barrier() between dependent stages (what
  /// Ordering::Barriers needs; other orderings infer the order and need none). Returns the
  /// number of dispatches encoded.
  std::size_t encode(Encoder& enc, const StepArgs& args, NormMode norm, bool barriers) const;

 private:
  struct Context;
  void encode_layer(Context& ctx, std::uint32_t layer) const;
  void encode_fused_layer(Context& ctx, std::uint32_t layer) const;
  void residual_norm(Context& ctx, const BufferView& add, const Buffer& weight,
                     const std::string& label) const;
  BufferView norm_prologue(Context& ctx, const BufferView& add, const Buffer& weight,
                           ops::GemvFusion& fusion) const;
  void sum_over_ranks(Context& ctx, const Buffer& partial, const std::string& label) const;

  const DeviceWeights* weights_;
  DecodeBuffers* buffers_;
  ops::OpEncoder ops_;
  Kernel next_token_;
  Communicator communicator_;  ///< empty unless tensor-parallel
};

}  // namespace encore::llm
