#pragma once

// A decode-like program for host-cost benchmarks: the dispatch and buffer pattern of a Llama
// block (norm, q/k/v projections, rope, kv append, attention, output projection, residual add,
// norm, gate/up projections, silu*mul, down projection, residual add), repeated per layer, over
// one weight arena and one kv-cache arena, as a real decode step binds them. Kernels carry real
// signatures and do nothing, so only encoding is measured.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "encore/encore.h"

namespace encore::bench {

// Small shapes: the host cost does not depend on them.
inline constexpr std::uint64_t kHidden = 256;
inline constexpr std::uint64_t kFfn = 512;
inline constexpr std::uint64_t kVocab = 1024;
inline constexpr std::uint64_t kContext = 64;

class DecodeProgram {
 public:
  /// `layers` blocks of 16 dispatches, plus final norm, lm_head and argmax.
  DecodeProgram(Device& device, std::uint32_t layers);

  /// Kernels the program uses; register them in the device's registry before opening it.
  static void register_kernels(KernelRegistry& registry);

  /// Encodes the whole step into `enc` (an Encoder, or a sink with the same dispatch() call, to
  /// measure what building the arguments alone costs).
  template <class Sink>
  void encode(Sink& enc, std::uint32_t position) const;
  std::uint32_t dispatch_count() const { return layers_ * 16 + 3; }

 private:
  struct Layer {
    BufferView attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
    BufferView k_cache, v_cache;
  };

  std::uint32_t layers_;
  Buffer weights_, kv_cache_;
  std::vector<Layer> layer_views_;
  BufferView final_norm_, lm_head_;
  Buffer x_, h_, q_, k_, v_, attn_, t_, gate_, up_, mid_, logits_, token_;
  Kernel rms_norm_, gemv_, rope_, kv_append_, attention_, add_, silu_mul_, argmax_;
};

/// Accepts dispatches and does nothing: the cost of building views and args, without encore.
struct NullSink {
  void dispatch(const Kernel& kernel, const Launch& launch, std::initializer_list<Arg> args) {
    sunk += args.size() + (kernel ? 1 : 0) + launch.block().x;
  }
  std::uint64_t sunk = 0;
};

template <class Sink>
void DecodeProgram::encode(Sink& enc, std::uint32_t position) const {
  constexpr std::uint64_t kF32 = 4;
  const Launch rows = Launch::groups(64, 256);
  const Launch one = Launch::groups(1, 256);
  const auto h = static_cast<std::uint32_t>(kHidden);
  const auto f = static_cast<std::uint32_t>(kFfn);
  const auto vocab = static_cast<std::uint32_t>(kVocab);
  const std::uint64_t row_bytes = kHidden * kF32;
  for (const Layer& l : layer_views_) {
    const BufferView k_slot = l.k_cache.sub(position * row_bytes, row_bytes);
    const BufferView v_slot = l.v_cache.sub(position * row_bytes, row_bytes);
    const BufferView k_seen = l.k_cache.sub(0, (position + 1) * row_bytes);
    const BufferView v_seen = l.v_cache.sub(0, (position + 1) * row_bytes);
    enc.dispatch(rms_norm_, one, {in(x_), in(l.attn_norm), out(h_), value(1e-5F)});
    enc.dispatch(gemv_, rows, {in(h_), in(l.wq), out(q_), value(h), value(h)});
    enc.dispatch(gemv_, rows, {in(h_), in(l.wk), out(k_), value(h), value(h)});
    enc.dispatch(gemv_, rows, {in(h_), in(l.wv), out(v_), value(h), value(h)});
    enc.dispatch(rope_, one, {inout(q_), value(position)});
    enc.dispatch(rope_, one, {inout(k_), value(position)});
    enc.dispatch(kv_append_, one, {in(k_), in(v_), out(k_slot), out(v_slot)});
    enc.dispatch(attention_, rows,
                 {in(q_), in(k_seen), in(v_seen), out(attn_), value(position + 1)});
    enc.dispatch(gemv_, rows, {in(attn_), in(l.wo), out(t_), value(h), value(h)});
    enc.dispatch(add_, one, {in(x_), in(t_), out(x_), value(h)});
    enc.dispatch(rms_norm_, one, {in(x_), in(l.ffn_norm), out(h_), value(1e-5F)});
    enc.dispatch(gemv_, rows, {in(h_), in(l.w_gate), out(gate_), value(f), value(h)});
    enc.dispatch(gemv_, rows, {in(h_), in(l.w_up), out(up_), value(f), value(h)});
    enc.dispatch(silu_mul_, one, {in(gate_), in(up_), out(mid_), value(f)});
    enc.dispatch(gemv_, rows, {in(mid_), in(l.w_down), out(t_), value(h), value(f)});
    enc.dispatch(add_, one, {in(x_), in(t_), out(x_), value(h)});
  }
  enc.dispatch(rms_norm_, one, {in(x_), in(final_norm_), out(h_), value(1e-5F)});
  enc.dispatch(gemv_, rows, {in(h_), in(lm_head_), out(logits_), value(vocab), value(h)});
  enc.dispatch(argmax_, one, {in(logits_), out(token_), value(vocab)});
}

}  // namespace encore::bench
