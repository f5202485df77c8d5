#pragma once

// Kernels of the GPU benchmark, shared by the encore paths and the raw CUDA baselines so both
// launch exactly the same code.

#include <cstdint>

namespace encore::bench {

/// (float* x, float v): x[threadIdx.x] += v, one block of 32 threads: a launch-bound kernel.
const void* tiny_kernel();
/// tiny_kernel opted into programmatic dependent launch (waits for its predecessor in-kernel).
const void* tiny_pdl_kernel();
/// (float* x, uint32 spins): one block that spins `spins` iterations, then x[0] += 1.
const void* busy_kernel();

/// (float* x, uint32 n): one dependent step, PDL: wait for the predecessor, every block reads
/// x[0, n) through L2 and sums it, block 0 writes x[n].
const void* step_pdl_kernel();
/// (float* x, uint32 n, u32* state, uint32 steps): `steps` of the same steps in one launch, a
/// grid barrier (ops/cuda_common.cuh, state: two zeroed words) after each. One block per
/// multiprocessor at most.
const void* barrier_steps_kernel();

/// Raw launches, for the <<<>>> baseline.
void launch_tiny(float* x, float v, void* stream);
void launch_busy(float* x, std::uint32_t spins, void* stream);

}  // namespace encore::bench
