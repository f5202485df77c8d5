#pragma once

/// \file
/// Per-device counters, snapshot by value. Encoders add their counts when their command buffer
/// is committed, finished or discarded; submissions when they finish.

#include <cstdint>
#include <string>

namespace encore {

struct Stats {
  // Encoding.
  std::uint64_t dispatches_encoded = 0;   ///< dispatch() calls recorded (commit, finish or discard)
  std::uint64_t dispatches_replayed = 0;  ///< dispatches run again by submitting a Recording
  std::uint64_t barriers_explicit = 0;    ///< barrier() calls that recorded a barrier
  std::uint64_t barriers_inferred = 0;    ///< barriers inserted by auto_barrier ordering
  std::uint64_t dispatches_concurrent = 0;  ///< auto_barrier: dispatches that joined the open group
  std::uint64_t edges_inferred = 0;         ///< dependency edges recorded by auto_dag ordering
  std::uint64_t edges_pruned = 0;           ///< auto_dag edges dropped as implied by other edges

  // Command buffers and submissions.
  std::uint64_t command_buffers = 0;            ///< encoder commits
  std::uint64_t command_buffers_discarded = 0;  ///< encoders dropped or discarded with work
  std::uint64_t recordings_finished = 0;        ///< encoders turned into a Recording
  std::uint64_t recordings_submitted = 0;       ///< Recording submissions (replays)
  std::uint64_t submissions_completed = 0;
  std::uint64_t submissions_failed = 0;
  std::uint64_t syncs = 0;  ///< host waits on device work (commit_and_wait, wait, wait_idle)
  std::uint64_t fence_signals = 0;  ///< commits that signal a fence
  std::uint64_t fence_waits = 0;    ///< command buffers that wait on a fence

  // Memory.
  std::uint64_t allocations = 0;      ///< buffers allocated since the last reset
  std::uint64_t bytes_allocated = 0;  ///< bytes allocated since the last reset
  std::uint64_t buffers_live = 0;     ///< buffers alive now (not reset)
  std::uint64_t bytes_live = 0;       ///< bytes alive now (not reset)
  std::uint64_t bytes_uploaded = 0;
  std::uint64_t bytes_downloaded = 0;

  // Validation (CPU backend).
  std::uint64_t dispatches_validated = 0;

  // Recording passes (encore/passes.h), counted where a device applies them: encoders with
  // passes (at commit and finish) and Device::optimize.
  std::uint64_t recordings_optimized = 0;  ///< command buffers and recordings run through passes
  std::uint64_t nodes_fused = 0;       ///< dispatches removed by fusion (a 2-into-1 fusion is 1)
  std::uint64_t nodes_moved = 0;       ///< dispatches reorder pulled forward into an earlier group
  std::uint64_t barriers_removed = 0;  ///< barriers of the input minus barriers of the output
  std::uint64_t edges_removed = 0;     ///< dependency edges of the input minus those of the output

  // CUDA graphs.
  std::uint64_t graph_instantiations = 0;   ///< executables built (cache misses)
  std::uint64_t graph_cache_hits = 0;       ///< submissions that reused an executable
  std::uint64_t graph_nodes_patched = 0;    ///< kernel nodes whose arguments were updated on a hit
  std::uint64_t graph_cache_evictions = 0;  ///< executables dropped to stay within capacity
  std::uint64_t graph_cache_entries = 0;    ///< executables cached now (not reset)

  // Profiling (Device::profile()).
  std::uint64_t submissions_profiled = 0;  ///< submissions recorded by the profiler
  /// Dispatch executions timed by the profiler (CUDA: counted as CUPTI's records are handed
  /// over, at the latest by Device::profile()).
  std::uint64_t dispatches_profiled = 0;
  /// Timings the profiler could not join to a dispatch: unknown graph node, records the driver
  /// dropped, kernels of the process that matched no launch of a profiling device.
  std::uint64_t profile_records_unattributed = 0;

  /// One "name value" pair per line.
  std::string to_string() const;
  /// One JSON object, {"name": value, ...}, every counter of to_string() in the same order.
  std::string to_json() const;
};

}  // namespace encore
