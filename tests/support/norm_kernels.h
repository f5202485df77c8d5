#pragma once

// CPU kernels with the norm family's fixed signatures, for tests that need the fusion pass's
// kernels before (or without) the op library: each is added only when the registry has no kernel
// of that name, so a registry that already holds the op library's kernels keeps them.
//
// | name                 | op         | params                                                  |
// |----------------------|------------|---------------------------------------------------------|
// | rms_norm_f32         | RmsNorm    | in x, out y, value u32 n, value f32 eps                 |
// | rms_norm_mul_f32     | RmsNormMul | in x, in w, out y, value u32 n, value f32 eps           |
// | add_rms_norm_f32     | AddRmsNorm | in a, in b, out sum, out y, value u32 n, value f32 eps  |
// | add_rms_norm_mul_f32 | AddRmsNorm | in a, in b, in w, out sum, out y, value u32 n, f32 eps  |
// | mul_bf16             | ElemMul    | in a, in b, out c, value u32 n (a stand-in of another   |
// |                      |            | dtype: it multiplies as f32, but it is not mul_f32)     |
//
// One block per row (grid.x = rows), n = row length. Every kernel computes a row's scale with the
// same function, in the same order, and multiplies in the same order as the unfused pair
// ((x * r) * w), so fused and unfused programs give byte-identical results on the CPU backend.
// Each writes element i only after reading element i of its inputs, so the exact in-place
// aliases the elementwise kernels allow (sum == a, y == x) work here too.

#include "encore/kernel.h"

namespace encore::testing {

/// Adds the kernels above that `registry` lacks.
void add_norm_kernels(KernelRegistry& registry);

/// The portable registry (make_portable_registry) plus the norm kernels.
std::shared_ptr<KernelRegistry> make_norm_registry();

}  // namespace encore::testing
