// register_ops and the OpEncoder's kernel resolution. Each op family registers its own kernels
// (<family>/<family>.cpp); the encode helpers live beside them.

#include "encore/ops.h"

#include <cstddef>

#include "kernels/basic_kernels.h"
#include "ops/argmax/argmax.h"
#include "ops/attention/attention.h"
#include "ops/attention/attention_o.h"
#include "ops/elementwise/elementwise.h"
#include "ops/embedding/embedding.h"
#include "ops/gemv/gemv_encode.h"
#include "ops/kv_cache/kv_append.h"
#include "ops/norm/norm.h"
#include "ops/op_kernels.h"
#include "ops/rope/rope.h"
#include "ops/softmax/softmax.h"

namespace encore::ops {

void register_ops(KernelRegistry& registry) {
  // add_f32 / mul_f32 are the basic kernels; a registry built from scratch gets them here.
  if (registry.find("add_f32") == nullptr) kernels::register_basic_kernels(registry);
  detail::register_elementwise_kernels(registry);
  detail::register_norm_kernels(registry);
  detail::register_embedding_kernels(registry);
  detail::register_rope_kernels(registry);
  detail::register_gemv_kernels(registry);
  detail::register_kv_append_kernels(registry);
  detail::register_attention_kernels(registry);
  detail::register_attention_o_kernels(registry);
  detail::register_softmax_kernels(registry);
  detail::register_argmax_kernels(registry);
}

OpEncoder::OpEncoder(const Device& device) {
  auto k = std::make_shared<Kernels>();
  k->device = device;
  k->limits = device.limits();
  k->add = device.kernel("add_f32");
  k->mul = device.kernel("mul_f32");
  k->silu_mul = device.kernel("silu_mul_f32");
  k->rms_norm = device.kernel("rms_norm_f32");
  k->rms_norm_mul = device.kernel("rms_norm_mul_f32");
  k->add_rms_norm = device.kernel("add_rms_norm_f32");
  k->add_rms_norm_mul = device.kernel("add_rms_norm_mul_f32");
  k->embedding = device.kernel("embedding_bf16");
  k->rope = device.kernel("rope_f32");
  k->rope_kv_append = device.kernel("rope_kv_append_bf16");
  detail::resolve_gemv_kernels(device, k->gemv);
  k->kv_append = device.kernel("kv_append_bf16");
  k->attention_hd64 = device.kernel("attention_decode_hd64_bf16");
  k->attention_hd128 = device.kernel("attention_decode_hd128_bf16");
  k->attention_append_hd64 = device.kernel("attention_append_decode_hd64_bf16");
  k->attention_append_hd128 = device.kernel("attention_append_decode_hd128_bf16");
  k->attention_o_hd64 = device.kernel("attention_o_decode_hd64_bf16");
  k->attention_o_hd128 = device.kernel("attention_o_decode_hd128_bf16");
  k->softmax = device.kernel("softmax_f32");
  k->argmax = device.kernel("argmax_f32");
  k->argmax_partial = device.kernel("argmax_partial_f32");
  k->argmax_final = device.kernel("argmax_final_f32");
  k_ = std::move(k);
}

}  // namespace encore::ops
