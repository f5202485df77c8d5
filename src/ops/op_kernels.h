#pragma once

// The kernels an OpEncoder resolved on its device, shared by every op's encode helpers. Holding
// the Device keeps the registry the Kernel handles point into alive.

#include <array>

#include "encore/device.h"
#include "encore/kernel.h"
#include "encore/ops.h"

#include "ops/gemv/gemv_encode.h"

namespace encore::ops {

struct OpEncoder::Kernels {
  Device device{nullptr};
  DeviceLimits limits;

  Kernel add;
  Kernel mul;
  Kernel silu_mul;

  Kernel rms_norm;
  Kernel rms_norm_mul;
  Kernel add_rms_norm;
  Kernel add_rms_norm_mul;

  Kernel embedding;
  Kernel rope;
  Kernel rope_kv_append;

  /// Every gemv family and variant, indexed by detail::gemv_kernel_slot().
  std::array<Kernel, detail::kGemvKernelSlots> gemv;

  Kernel kv_append;

  Kernel attention_hd64;
  Kernel attention_hd128;
  Kernel attention_append_hd64;
  Kernel attention_append_hd128;
  Kernel attention_o_hd64;
  Kernel attention_o_hd128;

  Kernel softmax;

  Kernel argmax;
  Kernel argmax_partial;
  Kernel argmax_final;
};

}  // namespace encore::ops
