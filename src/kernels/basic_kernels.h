#pragma once

// A handful of small f32 kernels used by the demo, the tests and the benchmarks: elementwise
// add/mul/scale, fill, copy and a two-pass sum. Each CPU implementation is written the way a
// CUDA kernel is: it handles one block, each "thread" computes its global index and bounds-checks
// against n, so the same launch shapes work on every backend.
//
// | name      | params                                   | op        |
// |-----------|------------------------------------------|-----------|
// | fill_f32  | out y, value f32 v, value u32 n          | Fill      |
// | copy_f32  | in x, out y, value u32 n                 | Copy      |
// | add_f32   | in a, in b, out c, value u32 n           | ElemAdd   |
// | mul_f32   | in a, in b, out c, value u32 n           | ElemMul   |
// | scale_f32 | in x, out y, value f32 alpha, value u32 n| ElemScale |
// | sum_f32   | in x, out partial, value u32 n           | Reduce    |
//
// sum_f32 writes one partial sum per block (partial[blockIdx.x]) and needs blockDim.x * 4 bytes
// of shared memory; run it again with one block over the partials for the total.

#include "encore/kernel.h"

namespace encore::kernels {

/// Adds the kernels above to `registry`.
void register_basic_kernels(KernelRegistry& registry);

}  // namespace encore::kernels
