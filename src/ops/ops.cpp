// register_ops and the OpEncoder's kernel resolution. Each op family registers its own kernels
// (<family>/<family>.cpp); the encode helpers live beside them.

#include "encore/ops.h"

#include <cstddef>

#include "kernels/basic_kernels.h"
#include "ops/elementwise/elementwise.h"
#include "ops/norm/norm.h"
#include "ops/op_kernels.h"

namespace encore::ops {

void register_ops(KernelRegistry& registry) {
  // add_f32 / mul_f32 are the basic kernels; a registry built from scratch gets them here.
  if (registry.find("add_f32") == nullptr) kernels::register_basic_kernels(registry);
  detail::register_elementwise_kernels(registry);
  detail::register_norm_kernels(registry);
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
  k_ = std::move(k);
}

}  // namespace encore::ops
