#pragma once

// Test kernels with a CPU and a CUDA implementation under one signature, so the behaviour suites
// (tests/backends/common) and the CUDA-vs-CPU differential test run the same programs on every
// backend. Like src/kernels/basic_kernels.h, each CPU implementation handles one block the way
// the CUDA kernel does (global index, bounds check against the count), and both compute the same
// per-element formula, so the results are bit-identical across backends.
//
// | name       | params                                        | behaviour                    |
// |------------|-----------------------------------------------|------------------------------|
// | fill_u32   | out dst, value u32 v, value u32 n             | dst[i] = v + i (i < n)       |
// | mix_u32    | in src, inout dst, value u32 salt,            | dst[i] = dst[i] * 31 (i < n) |
// |            | value u32 src_n, value u32 n                  |   + (src[i % src_n] ^ salt)  |
// | log_order  | inout log, value u32 id                       | log[1 + log[0]++] = id       |
// | big_value  | value u8[4096] v                              | nothing                      |
// | two_values | value u32 narrow, value u64 wide              | nothing                      |
//
// Counts are elements and must fit the bound views; the CPU versions check that and fail with
// KernelFailed, the CUDA versions trust it. The GPU cannot see the size of a view, which is why
// fill_u32 and mix_u32 take their counts as values.
//
// mix_u32 may read bytes it also writes (its src and dst views may overlap). Its result is then
// defined as the CPU computes it: element by element in ascending order, each element reading
// src before writing dst. The CUDA version checks for the overlap and, only then, runs that
// ascending loop on one thread (the others return), so even an aliased dispatch is bit-identical.
//
// log_order appends once per block and is meant for one thread (Launch::groups(1, 1)); on the
// GPU the first thread of the block appends, with an atomic increment of the count.
//
// big_value takes the largest value a dispatch may pass (kMaxValueBytes); two_values has two
// values of different sizes, for slot size checks. Neither touches memory.

#include "encore/kernel.h"

namespace encore::testing {

/// Adds the kernels above to `registry`, each with its CPU implementation and, when encore is
/// built with CUDA, its CUDA one. Throws Error(InvalidArgument) if a name is already taken.
void register_portable_kernels(KernelRegistry& registry);

}  // namespace encore::testing
