#pragma once

// One block's record in the kernel timeline (kernel_timeline.cuh), and the registry of the
// per-translation-unit tables that write_kernel_timeline() reads.

#include <cstdint>
#include <vector>

namespace encore::ops::detail {

enum class TimelinePhase : std::uint32_t { Entry = 0, Waited = 1, Mark = 2, Exit = 3 };

struct TimelineRecord {
  std::uint64_t grid;         ///< %gridid of the launch (0: the slot was never written)
  std::uint32_t grid_blocks;  ///< blocks of the launch
  std::uint32_t block;        ///< linear block index
  std::uint64_t t[4];         ///< global timer (ns) at each TimelinePhase, 0 when not reached
};

using TimelineReader = void (*)(std::vector<TimelineRecord>& out);

/// Adds a table's reader; called at static initialisation by every unit that has a table.
bool register_timeline_reader(TimelineReader reader);

}  // namespace encore::ops::detail
