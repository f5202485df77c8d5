#pragma once

// A decode-like program for host-cost benchmarks: the dispatch and buffer pattern of a Llama
// block (norm, q/k/v projections, rope, kv append, attention, output projection, residual add,
// norm, gate/up projections, silu*mul, down projection, residual add), repeated per layer, over
// one weight arena and one kv-cache arena, as a real decode step binds them. Kernels carry real
// signatures and do nothing, so only encoding is measured.
//
// Two styles. Fused (the host-cost benchmark's): one norm kernel that also applies the weight,
// and the residual add as its own dispatch. Unfused (the pass benchmark's): each norm is
// rms_norm_f32 followed by mul_f32 with the weight, and the residual is add_f32 of x and the
// block's output into x, the pattern the fusion pass turns into add_rms_norm_mul_f32.

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

enum class NormStyle { Fused, Unfused };

class DecodeProgram {
 public:
  /// `layers` blocks of 16 dispatches (18 unfused), plus final norm (and mul), lm_head, argmax.
  DecodeProgram(Device& device, std::uint32_t layers, NormStyle style = NormStyle::Fused);

  /// Kernels the program uses; register them in the device's registry before opening it. The
  /// unfused style also needs add_f32 and mul_f32 (kernels::register_basic_kernels).
  static void register_kernels(KernelRegistry& registry);

  /// Encodes the whole step into `enc` (an Encoder, or a sink with the same dispatch() call, to
  /// measure what building the arguments alone costs).
  template <class Sink>
  void encode(Sink& enc, std::uint32_t position) const;
  std::uint32_t dispatch_count() const {
    return style_ == NormStyle::Fused ? layers_ * 16 + 3 : layers_ * 18 + 4;
  }

 private:
  struct Layer {
    BufferView attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
    BufferView k_cache, v_cache;
  };

  // One norm: fused (bench_rms_norm x, w -> y) or unfused (rms_norm_f32 x -> n, mul_f32 n, w -> y).
  template <class Sink>
  void norm(Sink& enc, const BufferView& w, const Buffer& y) const;

  std::uint32_t layers_;
  NormStyle style_;
  Buffer weights_, kv_cache_;
  std::vector<Layer> layer_views_;
  BufferView final_norm_, lm_head_;
  Buffer x_, h_, q_, k_, v_, attn_, t_, gate_, up_, mid_, logits_, token_, normed_;
  Kernel rms_norm_, gemv_, rope_, kv_append_, attention_, add_, silu_mul_, argmax_;
  Kernel rms_norm_f32_, mul_f32_;
};

/// Accepts dispatches and does nothing: the cost of building views and args, without encore.
struct NullSink {
  void dispatch(const Kernel& kernel, const Launch& launch, std::initializer_list<Arg> args) {
    sunk += args.size() + (kernel ? 1 : 0) + launch.block().x;
  }
  std::uint64_t sunk = 0;
};

template <class Sink>
void DecodeProgram::norm(Sink& enc, const BufferView& w, const Buffer& y) const {
  const auto h = static_cast<std::uint32_t>(kHidden);
  if (style_ == NormStyle::Fused) {
    enc.dispatch(rms_norm_, Launch::groups(1, 256), {in(x_), in(w), out(y), value(1e-5F)});
    return;
  }
  enc.dispatch(rms_norm_f32_, Launch::groups(1, 256),
               {in(x_), out(normed_), value(h), value(1e-5F)});
  enc.dispatch(mul_f32_, Launch::threads(h, 256), {in(normed_), in(w), out(y), value(h)});
}

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
    norm(enc, l.attn_norm, h_);
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
    norm(enc, l.ffn_norm, h_);
    enc.dispatch(gemv_, rows, {in(h_), in(l.w_gate), out(gate_), value(f), value(h)});
    enc.dispatch(gemv_, rows, {in(h_), in(l.w_up), out(up_), value(f), value(h)});
    enc.dispatch(silu_mul_, one, {in(gate_), in(up_), out(mid_), value(f)});
    enc.dispatch(gemv_, rows, {in(mid_), in(l.w_down), out(t_), value(h), value(f)});
    enc.dispatch(add_, one, {in(x_), in(t_), out(x_), value(h)});
  }
  norm(enc, final_norm_, h_);
  enc.dispatch(gemv_, rows, {in(h_), in(lm_head_), out(logits_), value(vocab), value(h)});
  enc.dispatch(argmax_, one, {in(logits_), out(token_), value(vocab)});
}

}  // namespace encore::bench
