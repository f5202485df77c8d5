#pragma once

// Registries for the fusion tests: the portable kernels plus the op library's kernels, whose
// RMS-norm family (rms_norm_f32, rms_norm_mul_f32, add_rms_norm_f32, add_rms_norm_mul_f32) the
// fusion pass fuses into, plus one stand-in:
//
// | name     | op      | params                          | behaviour                          |
// |----------|---------|---------------------------------|------------------------------------|
// | mul_bf16 | ElemMul | in a, in b, out c, value u32 n  | multiplies as f32; it stands for a |
// |          |         |                                 | multiply of another dtype: it is   |
// |          |         |                                 | not mul_f32, so it must not fuse   |
//
// On the CPU the op library's fused norms perform the same float operations as the unfused
// kernels they replace ((x * scale) * w, the sum stored before it is squared), so fused and
// unfused programs give byte-identical results there.

#include <memory>

#include "encore/kernel.h"

namespace encore::testing {

/// The portable registry (make_portable_registry), the op library's kernels and mul_bf16.
std::shared_ptr<KernelRegistry> make_norm_registry();

}  // namespace encore::testing
