#include "decode_program.h"

#include <string>

namespace encore::bench {

namespace {

constexpr std::uint64_t kF32 = 4;

void nothing(const CpuKernelContext&) {}

}  // namespace

void DecodeProgram::register_kernels(KernelRegistry& r) {
  r.add({.name = "bench_rms_norm",
         .params = {Param::in("x"), Param::in("w"), Param::out("y"), Param::value<float>("eps")},
         .op = OpKind::RmsNorm,
         .cpu = nothing});
  r.add({.name = "bench_gemv",
         .params = {Param::in("x"), Param::in("w"), Param::out("y"),
                    Param::value<std::uint32_t>("rows"), Param::value<std::uint32_t>("cols")},
         .op = OpKind::Gemv,
         .cpu = nothing});
  r.add({.name = "bench_rope",
         .params = {Param::inout("x"), Param::value<std::uint32_t>("pos")},
         .op = OpKind::Rope,
         .cpu = nothing});
  r.add({.name = "bench_kv_append",
         .params = {Param::in("k"), Param::in("v"), Param::out("k_cache"), Param::out("v_cache")},
         .op = OpKind::KvAppend,
         .cpu = nothing});
  r.add({.name = "bench_attention",
         .params = {Param::in("q"), Param::in("k_cache"), Param::in("v_cache"), Param::out("o"),
                    Param::value<std::uint32_t>("kv_len")},
         .op = OpKind::Sdpa,
         .cpu = nothing});
  r.add({.name = "bench_add",
         .params = {Param::in("a"), Param::in("b"), Param::out("c"),
                    Param::value<std::uint32_t>("n")},
         .op = OpKind::ElemAdd,
         .cpu = nothing});
  r.add({.name = "bench_silu_mul",
         .params = {Param::in("gate"), Param::in("up"), Param::out("y"),
                    Param::value<std::uint32_t>("n")},
         .op = OpKind::SiluMul,
         .cpu = nothing});
  r.add({.name = "bench_argmax",
         .params = {Param::in("logits"), Param::out("token"), Param::value<std::uint32_t>("n")},
         .op = OpKind::Argmax,
         .cpu = nothing});
  // The norm family with the op library's signatures (for the unfused style and what fusion
  // makes of it), unless the registry has them already.
  const auto n = Param::value<std::uint32_t>("n");
  const auto eps = Param::value<float>("eps");
  const KernelDef norms[] = {
      {.name = "rms_norm_f32",
       .params = {Param::in("x"), Param::out("y"), n, eps},
       .op = OpKind::RmsNorm,
       .cpu = nothing},
      {.name = "rms_norm_mul_f32",
       .params = {Param::in("x"), Param::in("w"), Param::out("y"), n, eps},
       .op = OpKind::RmsNormMul,
       .cpu = nothing},
      {.name = "add_rms_norm_f32",
       .params = {Param::in("a"), Param::in("b"), Param::out("sum"), Param::out("y"), n, eps},
       .op = OpKind::AddRmsNorm,
       .cpu = nothing},
      {.name = "add_rms_norm_mul_f32",
       .params = {Param::in("a"), Param::in("b"), Param::in("w"), Param::out("sum"),
                  Param::out("y"), n, eps},
       .op = OpKind::AddRmsNorm,
       .cpu = nothing}};
  for (const KernelDef& def : norms) {
    if (r.find(def.name) == nullptr) r.add(def);
  }
}

DecodeProgram::DecodeProgram(Device& device, std::uint32_t layers, NormStyle style)
    : layers_(layers), style_(style) {
  const std::uint64_t per_layer = (2 * kHidden + 4 * kHidden * kHidden + 3 * kHidden * kFfn) * kF32;
  weights_ = device.alloc(per_layer * layers + (kHidden + kVocab * kHidden) * kF32, "weights");
  const std::uint64_t cache_per_layer = kContext * kHidden * kF32;
  kv_cache_ = device.alloc(2 * cache_per_layer * layers, "kv_cache");

  std::uint64_t offset = 0;
  const auto take = [&](std::uint64_t floats) {
    BufferView v = weights_.view(offset, floats * kF32);
    offset += floats * kF32;
    return v;
  };
  for (std::uint32_t l = 0; l < layers; ++l) {
    Layer layer;
    layer.attn_norm = take(kHidden);
    layer.wq = take(kHidden * kHidden);
    layer.wk = take(kHidden * kHidden);
    layer.wv = take(kHidden * kHidden);
    layer.wo = take(kHidden * kHidden);
    layer.ffn_norm = take(kHidden);
    layer.w_gate = take(kHidden * kFfn);
    layer.w_up = take(kHidden * kFfn);
    layer.w_down = take(kHidden * kFfn);
    layer.k_cache = kv_cache_.view(2 * l * cache_per_layer, cache_per_layer);
    layer.v_cache = kv_cache_.view((2 * l + 1) * cache_per_layer, cache_per_layer);
    layer_views_.push_back(layer);
  }
  final_norm_ = take(kHidden);
  lm_head_ = take(kVocab * kHidden);

  const auto activation = [&](std::uint64_t floats, const char* name) {
    return device.alloc(floats * kF32, name);
  };
  x_ = activation(kHidden, "x");
  h_ = activation(kHidden, "h");
  q_ = activation(kHidden, "q");
  k_ = activation(kHidden, "k");
  v_ = activation(kHidden, "v");
  attn_ = activation(kHidden, "attn");
  t_ = activation(kHidden, "t");
  gate_ = activation(kFfn, "gate");
  up_ = activation(kFfn, "up");
  mid_ = activation(kFfn, "mid");
  logits_ = activation(kVocab, "logits");
  token_ = activation(1, "token");
  normed_ = activation(kHidden, "normed");

  rms_norm_ = device.kernel("bench_rms_norm");
  gemv_ = device.kernel("bench_gemv");
  rope_ = device.kernel("bench_rope");
  kv_append_ = device.kernel("bench_kv_append");
  attention_ = device.kernel("bench_attention");
  if (style == NormStyle::Unfused) {
    rms_norm_f32_ = device.kernel("rms_norm_f32");
    mul_f32_ = device.kernel("mul_f32");
  }
  // The residual add: add_f32 (what fusion matches) in the unfused style.
  add_ = device.kernel(style == NormStyle::Unfused ? "add_f32" : "bench_add");
  silu_mul_ = device.kernel("bench_silu_mul");
  argmax_ = device.kernel("bench_argmax");
}

}  // namespace encore::bench
