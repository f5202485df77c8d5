#pragma once

// The gemv micro-benchmark: many gemv calls back to back inside one CUDA graph, on rotating
// weight copies whose total exceeds L2 (so every call streams its weights from memory), timed
// on the device. Measured for encore's gemv (an encoder recording replayed; serial ordering, so
// consecutive calls are joined by programmatic edges when PDL is on) and for cuBLAS
// (cublasGemmEx, bf16 weights and x, bf16 y, f32 compute, as PyTorch's F.linear calls it,
// captured into a CUDA graph).

#include <cstdint>
#include <string>
#include <vector>

#include "encore/device.h"
#include "encore/ops.h"

namespace encore::bench {

struct GemvShape {
  std::string name;  ///< what the matrix is in a model, e.g. "llama-1b gate+up"
  std::uint32_t rows;
  std::uint32_t cols;
  bool large;  ///< held to the bandwidth target; the others to the cuBLAS speedup target
};

/// The shapes named in the issue.
std::vector<GemvShape> issue_gemv_shapes();
/// The issue's shapes and the other matrices of the decode steps (Llama qkv, Qwen q/o and qkv).
std::vector<GemvShape> decode_gemv_shapes();

struct GemvPlan {
  std::uint32_t copies;  ///< weight copies in rotation
  std::uint32_t calls;   ///< gemv calls per graph launch
};

/// Enough copies that they exceed `rotation_bytes` together, and at least `min_calls` calls
/// (a multiple of the copies).
GemvPlan plan_gemv(const GemvShape& shape, std::uint64_t rotation_bytes, std::uint32_t min_calls);

struct GemvTiming {
  std::string implementation;  ///< "encore" or "cublas"
  std::string kernel;          ///< encore's variant kernel, or "cublasGemmEx"
  double us_per_call = 0;      ///< median over replays
};

/// encore's gemv: one recording of `plan.calls` gemvs replayed `replays` times; the median of
/// Submission::time() per replay, divided by the calls.
GemvTiming time_encore_gemv(Device& device, const GemvShape& shape, const GemvPlan& plan,
                            int replays);

/// One plain-gemv variant forced (whatever the variant table would pick for the shape), timed
/// as time_encore_gemv times the selected one: for tuning the table.
GemvTiming time_gemv_variant(Device& device, const GemvShape& shape, const GemvPlan& plan,
                             int replays, const ops::KernelVariant& variant);

/// cuBLAS on the same shape, rotation and number of calls, captured into a CUDA graph; the
/// median of event-timed graph launches, divided by the calls.
GemvTiming time_cublas_gemv(const GemvShape& shape, const GemvPlan& plan, int replays);

/// Bytes one call must read: the weights (x and y are noise next to them, and stay in L2).
inline double gemv_bytes(const GemvShape& shape) {
  return 2.0 * shape.rows * static_cast<double>(shape.cols);
}

}  // namespace encore::bench
