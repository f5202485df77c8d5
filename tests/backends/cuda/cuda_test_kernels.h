#pragma once

// CUDA test kernels (cuda_test_kernels.cu), as addresses for KernelDef::cuda.

namespace encore::testing {

/// (float* x): faults with an illegal address.
const void* cuda_fault_kernel();
/// (float* x, double v): registered with a 4-byte value to provoke SignatureMismatch.
const void* cuda_mismatched_kernel();
/// (float* x, uint32 n): x[i] += 1.
const void* cuda_increment_kernel();

}  // namespace encore::testing
