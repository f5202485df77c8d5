// The decode step: embedding, per layer attention and MLP with residual norms, lm_head, argmax
// and the device-side choice of the next token. Residuals ping-pong between two buffers, so no
// op reads and writes the same bytes.
//
// Tensor-parallel ranks (shard.h) run this same step on their share of the weights. Their o and
// down gemvs write partial sums of attn_out and mlp_out (no gemv adds the residual in its
// epilogue), which an all_reduce turns into the full outputs on every rank before anything
// reads them. The residual is added after that, by the next norm, which every rank runs on its
// own copy of the residual: added once, to the reduced sum, so the residual is neither counted
// N times nor divided by N. The all_reduce gives every rank the same bits, so the ranks'
// residuals stay bitwise equal and the replicated norms, lm_head and argmax agree without a
// broadcast.

#include "llm/decode_step.h"

#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "encore/error.h"

#include "llm/llm_kernels.h"

namespace encore::llm {

namespace {

void require(const ops::Support& support, std::string_view what) {
  if (!support) {
    throw Error(ErrorCode::InvalidArgument,
                "the op library cannot run " + std::string(what) + ": " + support.reason);
  }
}

std::string blk(std::uint32_t layer, const char* what) {
  return "blk." + std::to_string(layer) + "." + what;
}

}  // namespace

std::string_view to_string(NormMode mode) noexcept {
  switch (mode) {
    case NormMode::Split:
      return "split";
    case NormMode::Standalone:
      return "standalone";
    case NormMode::Fused:
      break;
  }
  return "fused";
}

DecodeBuffers::DecodeBuffers(Device& device, const ModelConfig& c, std::uint32_t max_ctx,
                             bool attention_o)
    : max_ctx_(max_ctx) {
  validate(c);
  if (max_ctx == 0) throw Error(ErrorCode::InvalidArgument, "max_ctx must be at least 1");
  attention_ = {.n_heads = c.num_heads,
                .n_kv_heads = c.num_kv_heads,
                .head_dim = c.head_dim,
                .max_ctx = max_ctx};
  const std::uint32_t h = c.hidden_size;
  require(ops::can_rms_norm(h), "rms_norm over hidden_size " + std::to_string(h));
  require(ops::can_rope(c.head_dim), "rope with head_dim " + std::to_string(c.head_dim));
  require(ops::can_rope_kv_append(c.num_heads, c.num_kv_heads, c.head_dim),
          "rope_kv_append with head_dim " + std::to_string(c.head_dim));
  require(ops::can_attention(attention_), "attention with " + std::to_string(c.num_heads) +
                                              " heads, " + std::to_string(c.num_kv_heads) +
                                              " kv heads, head_dim " + std::to_string(c.head_dim) +
                                              ", max_ctx " + std::to_string(max_ctx));
  require(ops::can_argmax(c.vocab_size), "argmax over vocab " + std::to_string(c.vocab_size));
  const std::pair<std::uint32_t, std::uint32_t> gemvs[] = {{c.qkv_rows(), h},
                                                           {h, c.q_dim()},
                                                           {2 * c.intermediate_size, h},
                                                           {h, c.intermediate_size},
                                                           {c.vocab_size, h}};
  for (const auto& [rows, cols] : gemvs) {
    require(ops::can_gemv(rows, cols),
            "gemv [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  }
  require(ops::can_gemv_fused(c.qkv_rows(), h, true, false),
          "the norm prologue of a gemv over hidden_size " + std::to_string(h));
  require(ops::can_gemv_fused(c.intermediate_size, h, true, true),
          "the silu*mul gate|up gemv [2 x " + std::to_string(c.intermediate_size) + ", " +
              std::to_string(h) + "]");

  const auto f32 = [&](std::uint64_t n, const char* label) { return device.alloc(n * 4, label); };
  residual_[0] = f32(h, "residual.0");
  residual_[1] = f32(h, "residual.1");
  normed_ = f32(h, "normed");
  norm_tmp_ = f32(h, "norm_tmp");
  qkv_ = f32(c.qkv_rows(), "qkv");
  attn_ = f32(c.q_dim(), "attn");
  attn_out_ = f32(h, "attn_out");
  gate_up_ = f32(2ULL * c.intermediate_size, "gate_up");
  act_ = f32(c.intermediate_size, "mlp_act");
  mlp_out_ = f32(h, "mlp_out");
  logits_ = f32(c.vocab_size, "logits");
  argmax_ = device.alloc(4, "argmax");
  token_ = device.alloc(4, "token");
  history_ = device.alloc((std::uint64_t{max_ctx} + 1) * 4, "history");
  attention_scratch_ = device.alloc(
      std::max<std::uint64_t>(ops::attention_scratch_bytes(attention_), 4), "attention_scratch");
  argmax_scratch_ = device.alloc(
      std::max<std::uint64_t>(ops::argmax_scratch_bytes(c.vocab_size), 4), "argmax_scratch");
  if (attention_o) {
    const ops::OpEncoder ops(device);
    require(ops.attention_o_support(attention_, h),
            "attention with the o projection (" + std::to_string(h) + " rows) in one dispatch");
    attention_o_scratch_ =
        device.alloc(ops.attention_o_scratch_bytes(attention_, h), "attention_o_scratch");
  }
  k_staged_ = device.alloc(std::uint64_t{c.kv_dim()} * 2, "k_staged");
  v_staged_ = device.alloc(std::uint64_t{c.kv_dim()} * 2, "v_staged");
  cache_bytes_ = std::uint64_t{max_ctx} * c.kv_dim() * 2;
  kv_cache_ = device.alloc(cache_bytes_ * 2 * c.num_layers, "kv_cache");
}

BufferView DecodeBuffers::k_cache(std::uint32_t layer) const {
  return kv_cache_.view(cache_bytes_ * 2 * layer, cache_bytes_);
}

BufferView DecodeBuffers::v_cache(std::uint32_t layer) const {
  return kv_cache_.view(cache_bytes_ * (2 * layer + 1), cache_bytes_);
}

StepArgs step_slots() {
  return {slot<std::uint32_t>("pos", 0), slot<std::uint32_t>("kv_len", 1),
          slot<std::uint32_t>("prompt_len", 1)};
}

StepArgs step_values(std::uint32_t pos, std::uint32_t prompt_len) {
  return {value(pos), value(pos + 1), value(prompt_len)};
}

struct StepEncoder::Context {
  Encoder& enc;
  const StepArgs& args;
  NormMode norm;
  bool barriers;
  int residual = 0;  // residual_[residual] holds the running hidden state

  // Ends a stage: the next dispatch depends on what came before.
  void stage() const {
    if (barriers) enc.barrier();
  }
};

StepEncoder::StepEncoder(Device& device, const DeviceWeights& weights, DecodeBuffers& buffers,
                         Communicator communicator)
    : weights_(&weights), buffers_(&buffers), ops_(device), communicator_(std::move(communicator)) {
  ensure_llm_kernels(device);
  next_token_ = device.kernel(kNextTokenKernel);
}

// Tensor-parallel: `partial` (this rank's part of a row-parallel gemv's output) becomes the sum
// over every rank, in place. Nothing on one device.
void StepEncoder::sum_over_ranks(Context& ctx, const Buffer& partial,
                                 const std::string& label) const {
  if (!communicator_) return;
  all_reduce(ctx.enc, communicator_, partial, ReduceOp::Sum, label);
  ctx.stage();
}

// normed = rms_norm(residual + add) * weight, the sum becoming the new residual; without `add`
// (the first layer) normed = rms_norm(residual) * weight.
void StepEncoder::residual_norm(Context& ctx, const BufferView& add, const Buffer& weight,
                                const std::string& label) const {
  const DecodeBuffers& b = *buffers_;
  const ModelConfig& c = weights_->config;
  const std::uint32_t h = c.hidden_size;
  const float eps = c.rms_norm_eps;
  const Buffer& x = b.residual_[ctx.residual];
  const Buffer& sum = b.residual_[1 - ctx.residual];
  const bool has_add = static_cast<bool>(add.buffer());
  if (ctx.norm == NormMode::Standalone) {
    if (has_add) {
      ops_.add_rms_norm_mul(ctx.enc, x, add, weight, sum, b.normed_, h, eps, label);
      ctx.residual = 1 - ctx.residual;
    } else {
      ops_.rms_norm_mul(ctx.enc, x, weight, b.normed_, h, eps, label);
    }
    ctx.stage();
    return;
  }
  if (has_add) {
    ops_.add(ctx.enc, x, add, sum, label + ".add");
    ctx.stage();
    ctx.residual = 1 - ctx.residual;
  }
  ops_.rms_norm(ctx.enc, b.residual_[ctx.residual], b.norm_tmp_, h, eps, label);
  ctx.stage();
  ops_.mul(ctx.enc, b.norm_tmp_, weight, b.normed_, label + ".mul");
  ctx.stage();
}

void StepEncoder::encode_layer(Context& ctx, std::uint32_t l) const {
  const DecodeBuffers& b = *buffers_;
  const ModelConfig& c = weights_->config;
  const DeviceLayer& w = weights_->layers[l];
  const std::uint32_t h = c.hidden_size;
  const std::uint64_t q_bytes = std::uint64_t{c.q_dim()} * 4;
  const std::uint64_t kv_bytes = std::uint64_t{c.kv_dim()} * 4;
  const BufferView q = b.qkv_.view(0, q_bytes);
  const BufferView k = b.qkv_.view(q_bytes, kv_bytes);
  const BufferView v = b.qkv_.view(q_bytes + kv_bytes, kv_bytes);

  std::optional<BufferView> bias;
  if (w.qkv_bias) bias = w.qkv_bias;
  ops_.gemv(ctx.enc, w.qkv, b.normed_, b.qkv_, c.qkv_rows(), h, bias, blk(l, "qkv"));
  ctx.stage();
  // q and k are adjacent in qkv and rotate alike: one rope over all their heads.
  ops_.rope(ctx.enc, b.qkv_.view(0, q_bytes + kv_bytes), weights_->rope_inv_freq,
            c.num_heads + c.num_kv_heads, c.head_dim, ctx.args.pos, ops::RopeStyle::NeoX,
            blk(l, "rope"));
  ctx.stage();
  ops_.kv_append(ctx.enc, k, v, b.k_cache(l), b.v_cache(l), c.kv_dim(), ctx.args.pos,
                 blk(l, "kv_append"));
  ctx.stage();
  ops_.attention_decode(ctx.enc, q, b.k_cache(l), b.v_cache(l), b.attn_, b.attention_scratch_,
                        b.attention_, ctx.args.kv_len,
                        1.0F / std::sqrt(static_cast<float>(c.head_dim)), blk(l, "attention"));
  ctx.stage();
  ops_.gemv(ctx.enc, w.o, b.attn_, b.attn_out_, h, c.q_dim(), {}, blk(l, "attn_output"));
  ctx.stage();
  sum_over_ranks(ctx, b.attn_out_, blk(l, "attn_allreduce"));
  residual_norm(ctx, b.attn_out_, w.mlp_norm, blk(l, "ffn_norm"));

  const std::uint64_t inter_bytes = std::uint64_t{c.intermediate_size} * 4;
  ops_.gemv(ctx.enc, w.gate_up, b.normed_, b.gate_up_, 2 * c.intermediate_size, h, {},
            blk(l, "ffn_gate_up"));
  ctx.stage();
  ops_.silu_mul(ctx.enc, b.gate_up_.view(0, inter_bytes), b.gate_up_.view(inter_bytes, inter_bytes),
                b.act_, blk(l, "ffn_silu_mul"));
  ctx.stage();
  ops_.gemv(ctx.enc, w.down, b.act_, b.mlp_out_, h, c.intermediate_size, {}, blk(l, "ffn_down"));
  ctx.stage();
  sum_over_ranks(ctx, b.mlp_out_, blk(l, "ffn_allreduce"));
  const bool last = l + 1 == c.num_layers;
  residual_norm(ctx, b.mlp_out_, last ? weights_->final_norm : weights_->layers[l + 1].attn_norm,
                last ? std::string("output_norm") : blk(l + 1, "attn_norm"));
}

// Fused mode: the norm of residual (+ add, the sum becoming the new residual) as the prologue of
// the next gemv, whose x this returns.
BufferView StepEncoder::norm_prologue(Context& ctx, const BufferView& add, const Buffer& weight,
                                      ops::GemvFusion& fusion) const {
  const DecodeBuffers& b = *buffers_;
  const BufferView x = b.residual_[ctx.residual];
  fusion.norm = ops::GemvNorm{.weight = weight, .eps = weights_->config.rms_norm_eps};
  if (add.buffer()) {
    fusion.norm->add = add;
    fusion.norm->sum = b.residual_[1 - ctx.residual].view();
    ctx.residual = 1 - ctx.residual;
  }
  return x;
}

// Five dispatches: norm+qkv+rope, attention+kv_append, o, norm+gate|up+silu, down (seven on a
// tensor-parallel rank: the all_reduces after o and down; one fewer each with attention and o
// as one dispatch, see fuses_attention_o). The norm before qkv adds the previous layer's MLP
// output (none before the first layer); the qkv gemv writes q (turned by rope) and stages the
// turned k and v, which attention appends to the caches itself: no dispatch before it writes
// the caches, so it reads their other rows before its wait, while qkv still runs (the KV reads
// were its critical path, behind the next kernels' weight loads). With attention_o the qkv gemv
// appends them.
void StepEncoder::encode_fused_layer(Context& ctx, std::uint32_t l) const {
  const DecodeBuffers& b = *buffers_;
  const ModelConfig& c = weights_->config;
  const DeviceLayer& w = weights_->layers[l];
  const std::uint32_t h = c.hidden_size;
  const std::uint64_t q_bytes = std::uint64_t{c.q_dim()} * 4;

  const bool staged = !b.fuses_attention_o();
  ops::GemvFusion qkv{.rope_kv =
                          ops::GemvRopeKv{.inv_freq = weights_->rope_inv_freq,
                                          .k_cache = staged ? b.k_staged_.view() : b.k_cache(l),
                                          .v_cache = staged ? b.v_staged_.view() : b.v_cache(l),
                                          .n_heads = c.num_heads,
                                          .n_kv_heads = c.num_kv_heads,
                                          .head_dim = c.head_dim,
                                          .pos = ctx.args.pos,
                                          .style = ops::RopeStyle::NeoX,
                                          .staged = staged}};
  if (w.qkv_bias) qkv.bias = w.qkv_bias.view();
  const BufferView x =
      norm_prologue(ctx, l == 0 ? BufferView() : b.mlp_out_.view(), w.attn_norm, qkv);
  ops_.gemv_fused(ctx.enc, w.qkv, x, b.qkv_.view(0, q_bytes), c.qkv_rows(), h, qkv, blk(l, "qkv"));
  ctx.stage();
  const float scale = 1.0F / std::sqrt(static_cast<float>(c.head_dim));
  if (b.fuses_attention_o()) {
    ops_.attention_o_decode(ctx.enc, b.qkv_.view(0, q_bytes), b.k_cache(l), b.v_cache(l), w.o,
                            b.attn_out_, b.attention_o_scratch_, b.attention_, h, ctx.args.kv_len,
                            scale, blk(l, "attention_o"));
  } else {
    ops_.attention_decode(ctx.enc, b.qkv_.view(0, q_bytes), b.k_cache(l), b.v_cache(l), b.attn_,
                          b.attention_scratch_, b.attention_, ctx.args.kv_len, scale,
                          blk(l, "attention"),
                          ops::AttentionAppend{b.k_staged_.view(), b.v_staged_.view()});
    ctx.stage();
    ops_.gemv(ctx.enc, w.o, b.attn_, b.attn_out_, h, c.q_dim(), {}, blk(l, "attn_output"));
  }
  ctx.stage();
  sum_over_ranks(ctx, b.attn_out_, blk(l, "attn_allreduce"));
  ops::GemvFusion gate_up{.silu_mul = true};
  const BufferView mlp_x = norm_prologue(ctx, b.attn_out_.view(), w.mlp_norm, gate_up);
  ops_.gemv_fused(ctx.enc, w.gate_up, mlp_x, b.act_, c.intermediate_size, h, gate_up,
                  blk(l, "ffn_gate_up"));
  ctx.stage();
  ops_.gemv(ctx.enc, w.down, b.act_, b.mlp_out_, h, c.intermediate_size, {}, blk(l, "ffn_down"));
  ctx.stage();
  sum_over_ranks(ctx, b.mlp_out_, blk(l, "ffn_allreduce"));
}

std::size_t StepEncoder::encode(Encoder& enc, const StepArgs& args, NormMode norm,
                                bool barriers) const {
  const std::size_t before = enc.dispatch_count();
  const DecodeBuffers& b = *buffers_;
  const ModelConfig& c = weights_->config;
  Context ctx{enc, args, norm, barriers};
  ops_.embedding(enc, weights_->embedding, b.token_, b.residual_[0], c.hidden_size, "token_embd");
  ctx.stage();
  if (norm == NormMode::Fused) {
    for (std::uint32_t l = 0; l < c.num_layers; ++l) encode_fused_layer(ctx, l);
    ops::GemvFusion output;
    const BufferView x = norm_prologue(ctx, b.mlp_out_.view(), weights_->final_norm, output);
    ops_.gemv_fused(enc, weights_->lm_head, x, b.logits_, c.vocab_size, c.hidden_size, output,
                    "output");
  } else {
    residual_norm(ctx, BufferView(), weights_->layers[0].attn_norm, blk(0, "attn_norm"));
    for (std::uint32_t l = 0; l < c.num_layers; ++l) encode_layer(ctx, l);
    ops_.gemv(enc, weights_->lm_head, b.normed_, b.logits_, c.vocab_size, c.hidden_size, {},
              "output");
  }
  ctx.stage();
  ops_.argmax(enc, b.logits_, b.argmax_, b.argmax_scratch_, c.vocab_size, "argmax");
  ctx.stage();
  enc.dispatch(next_token_, Launch::groups(1, 32),
               {in(b.argmax_), inout(b.history_), out(b.token_), args.pos, args.prompt_len},
               {.label = "next_token"});
  return enc.dispatch_count() - before;
}

}  // namespace encore::llm
