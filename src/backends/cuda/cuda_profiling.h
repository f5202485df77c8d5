#pragma once

// What the CUDA backend does for profiling, in one place: per-dispatch collection through the
// CUPTI session (with the fallback to per-submission times when CUPTI cannot be used), the map
// from an instantiated graph's nodes to dispatches, and handing records to the profiler.
// The backend holds one only when profiling is on.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "encore/options.h"

#include "backends/cuda/cupti_session.h"
#include "core/command_list.h"
#include "profile/profiler.h"

namespace encore::detail {

class CudaProfiling {
 public:
  /// In Dispatch mode acquires CUPTI; when that fails the profiler is downgraded to Submission
  /// with the reason, and the reason is printed once per process on stderr.
  CudaProfiling(const DeviceOptions& options, Profiler& profiler);
  ~CudaProfiling();
  CudaProfiling(const CudaProfiling&) = delete;
  CudaProfiling& operator=(const CudaProfiling&) = delete;

  Profiler& profiler() noexcept { return profiler_; }
  /// True when kernels are collected per dispatch (CUPTI is in use).
  bool per_dispatch() const noexcept { return session_ != nullptr; }
  CuptiSink& sink() noexcept { return *sink_; }
  CuptiSession& session() noexcept { return *session_; }

  /// What profiling knows of a graph just instantiated from `template_nodes` (the node of each
  /// command-list index) under `capture`: executable node id -> dispatch index, the kernels one
  /// launch runs, and the collectives' kernels (the kernel nodes of their child graphs, whose
  /// executable ids CUPTI never reports), placed by order. Dispatches whose executable node
  /// CUPTI did not report are left out; their kernels will count as unattributed.
  GraphProfileNodes map_nodes(const CommandList& list,
                              const std::vector<cudaGraphNode_t>& template_nodes,
                              const CloneCapture& capture);

  /// Flushes CUPTI and hands every record received to the profiler.
  void collect();
  /// Drops what was received and restarts the CUPTI clock at the profiler's reset.
  void reset();

 private:
  Profiler& profiler_;
  std::shared_ptr<CuptiSession> session_;
  std::unique_ptr<CuptiSink> sink_;
};

}  // namespace encore::detail
