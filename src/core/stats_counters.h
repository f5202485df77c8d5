#pragma once

// Per-device counters behind encore::Stats. One X-macro lists the fields so the atomic block,
// the snapshot, reset and printing can never disagree.

#include <atomic>
#include <cstdint>

#include "encore/stats.h"

// Counters zeroed by Device::reset_stats().
#define ENCORE_RESETTABLE_COUNTERS(X) \
  X(dispatches_encoded)               \
  X(dispatches_replayed)              \
  X(barriers_explicit)                \
  X(barriers_inferred)                \
  X(dispatches_concurrent)            \
  X(edges_inferred)                   \
  X(edges_pruned)                     \
  X(command_buffers)                  \
  X(command_buffers_discarded)        \
  X(recordings_finished)              \
  X(recordings_submitted)             \
  X(submissions_completed)            \
  X(submissions_failed)               \
  X(syncs)                            \
  X(fence_signals)                    \
  X(fence_waits)                      \
  X(allocations)                      \
  X(bytes_allocated)                  \
  X(bytes_uploaded)                   \
  X(bytes_downloaded)                 \
  X(dispatches_validated)             \
  X(recordings_optimized)             \
  X(nodes_fused)                      \
  X(nodes_moved)                      \
  X(barriers_removed)                 \
  X(edges_removed)                    \
  X(graph_instantiations)             \
  X(graph_cache_hits)                 \
  X(graph_nodes_patched)              \
  X(graph_cache_evictions)            \
  X(submissions_profiled)             \
  X(dispatches_profiled)              \
  X(profile_records_unattributed)

// Gauges of what is alive now; reset leaves them alone.
#define ENCORE_GAUGE_COUNTERS(X) \
  X(buffers_live)                \
  X(bytes_live)                  \
  X(graph_cache_entries)

#define ENCORE_ALL_COUNTERS(X) ENCORE_RESETTABLE_COUNTERS(X) ENCORE_GAUGE_COUNTERS(X)

namespace encore::detail {

/// Counts an encoder accumulates without atomics and adds to the device when its command buffer
/// ends (commit, finish or discard).
struct EncoderCounts {
  std::uint64_t dispatches = 0;
  std::uint64_t barriers_explicit = 0;
  std::uint64_t barriers_inferred = 0;
  std::uint64_t dispatches_concurrent = 0;
  std::uint64_t edges_inferred = 0;
  std::uint64_t edges_pruned = 0;
};

class StatsCounters {
 public:
#define ENCORE_DECLARE_COUNTER(name) std::atomic<std::uint64_t> name{0};
  ENCORE_ALL_COUNTERS(ENCORE_DECLARE_COUNTER)
#undef ENCORE_DECLARE_COUNTER

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    if (n != 0) counter.fetch_add(n, std::memory_order_relaxed);
  }
  static void sub(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.fetch_sub(n, std::memory_order_relaxed);
  }

  void add_encoder_counts(const EncoderCounts& c) noexcept;
  Stats snapshot() const noexcept;
  void reset() noexcept;
};

}  // namespace encore::detail
