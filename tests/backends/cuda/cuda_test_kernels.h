#pragma once

// CUDA test kernels (cuda_test_kernels.cu), as addresses for KernelDef::cuda.

namespace encore::testing {

/// (float* x): faults with an illegal address.
const void* cuda_fault_kernel();
/// (float* x, double v): registered with a 4-byte value to provoke SignatureMismatch.
const void* cuda_mismatched_kernel();
/// (float* x, uint32 n): x[i] += 1.
const void* cuda_increment_kernel();
/// (uint64* t, uint64 cycles): spins, then t[0] = the GPU's global time in ns.
const void* cuda_spin_then_stamp_kernel();
/// (uint64* t): t[0] = the GPU's global time in ns.
const void* cuda_stamp_kernel();
/// increment_f32 opted into programmatic dependent launch.
const void* cuda_increment_pdl_kernel();
/// (const float* a, const float* b, float* c, uint32 n): c[i] = a[i] + b[i], with programmatic
/// dependent launch.
const void* cuda_add_pdl_kernel();

}  // namespace encore::testing
