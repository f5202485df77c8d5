#pragma once

// The kernel timeline: a diagnostic build (cmake -DENCORE_KERNEL_TIMELINE=ON) in which every op
// kernel's blocks write, from thread 0, the global timer (ns) at four phases: entry (before the
// PDL wait), waited (the wait returned: the predecessor grid has completed), a kernel's own mark
// (gemv: x formed, the norm prologue's end; attention: its chunk is scored, before the merge) and
// exit. It shows what CUPTI's one record per kernel cannot: when each block got to run under
// programmatic dependent launch, how long it sat in its wait and what happened after it. Dumped by
// write_kernel_timeline() (encore/ops.h, encore-llm --kernel-timeline) and read by
// scripts/kernel-timeline.
//
// The record of a block lives at a fixed place: (grid id % kGrids, block), no atomics, so the
// marks cost a few stores. A graph node keeps its grid id from replay to replay, so the table
// holds each node's latest launch; blocks past kBlocks are not recorded. Every translation unit
// that includes this header has its own table (no relocatable device code), and registers a
// reader of it at static initialisation. Without the option every mark compiles to nothing.

#if defined(ENCORE_KERNEL_TIMELINE)

#include <cstdint>
#include <cuda_runtime.h>
#include <vector>

#include "ops/global_timer.cuh"
#include "ops/kernel_timeline_record.h"

namespace encore::ops::detail::timeline {

inline constexpr unsigned kGrids = 512;
inline constexpr unsigned kBlocks = 1024;

// This translation unit's table (internal linkage: one per unit).
static __device__ TimelineRecord g_table[kGrids * kBlocks];

__device__ __forceinline__ void mark(TimelinePhase phase) {
  if (threadIdx.x != 0 || threadIdx.y != 0 || threadIdx.z != 0) return;
  const std::uint64_t t = global_timer_ns();
  std::uint64_t grid;
  asm volatile("mov.u64 %0, %%gridid;" : "=l"(grid));
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  if (block >= kBlocks) return;
  TimelineRecord& r = g_table[(grid % kGrids) * kBlocks + block];
  r.grid = grid;
  r.grid_blocks = gridDim.x * gridDim.y * gridDim.z;
  r.block = block;
  r.t[static_cast<unsigned>(phase)] = t;
}

// Marks the exit of the block when the scope that holds it ends (every return path).
struct ExitMark {
  __device__ ~ExitMark() { mark(TimelinePhase::Exit); }
};

// Appends this unit's recorded blocks (the current device's) to `out`. Internal linkage, as the
// table: an inline function would be one per program and read one unit's table for all.
static void read_table(std::vector<TimelineRecord>& out) {
  std::vector<TimelineRecord> table(std::size_t{kGrids} * kBlocks);
  if (cudaMemcpyFromSymbol(table.data(), g_table, table.size() * sizeof(TimelineRecord)) !=
      cudaSuccess) {
    (void)cudaGetLastError();  // not left for a later launch's check to find
    return;                    // no device or no launch yet: nothing recorded
  }
  for (const TimelineRecord& r : table) {
    if (r.grid != 0) out.push_back(r);
  }
}

[[maybe_unused]] static const bool g_registered = register_timeline_reader(&read_table);

}  // namespace encore::ops::detail::timeline

#define ENCORE_TIMELINE_MARK(phase) \
  ::encore::ops::detail::timeline::mark(::encore::ops::detail::TimelinePhase::phase)
#define ENCORE_TIMELINE_EXIT ::encore::ops::detail::timeline::ExitMark encore_timeline_exit_mark

#else

#define ENCORE_TIMELINE_MARK(phase) ((void)0)
#define ENCORE_TIMELINE_EXIT ((void)0)

#endif
