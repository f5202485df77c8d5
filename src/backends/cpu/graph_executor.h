#pragma once

// Runs one command list on a thread pool: every node whose predecessors have finished is ready;
// workers take ready nodes until all have run. Independent dispatches therefore really run at
// the same time, so a missing dependency shows up as a wrong result or a TSan report.
//
// Order among ready nodes: program order (lowest index first) by default; with a shuffle seed,
// uniformly random from a generator seeded per submission. With one thread and a seed the run is
// a reproducible random topological order, which is what the property tests use to expose a
// dependency the encoder failed to record.
//
// A failing dispatch stops the scheduling of further nodes (those running finish); the first
// failure is reported with the dispatch that caused it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "encore/error.h"

#include "backends/cpu/thread_pool.h"
#include "core/command_list.h"

namespace encore::detail {

/// When and where one dispatch ran (profiling).
struct DispatchTiming {
  std::uint32_t lane = 0;     ///< the team slot of the worker that ran it (0 .. threads-1)
  std::int64_t start_ns = 0;  ///< steady clock, since ExecutionConfig::epoch
  std::int64_t end_ns = 0;
};

struct ExecutionConfig {
  std::size_t threads = 1;
  std::optional<std::uint64_t> shuffle_seed;
  bool validate = false;
  /// Profiling: when set, sized to the node count and filled for every dispatch that ran. Null
  /// costs nothing per dispatch (the untimed worker is a separate instantiation).
  std::vector<DispatchTiming>* timings = nullptr;
  std::chrono::steady_clock::time_point epoch;
};

/// Runs `list`; returns the first failure, if any.
std::optional<Error> execute_command_list(const CommandList& list,
                                          std::span<const std::byte> slot_values, ThreadPool& pool,
                                          const ExecutionConfig& config);

}  // namespace encore::detail
