#pragma once

// The passes themselves, on the program form (program.h), and the invariant checker. Each pass
// file opens with a design note; docs/adr/0005-passes.md records the decisions.

#include <cstdint>
#include <string>
#include <vector>

#include "encore/passes.h"

#include "core/command_list.h"
#include "ir/passes/program.h"

namespace encore::detail {

/// What a pass changed (PassStage's counters).
struct PassCounts {
  std::uint64_t nodes_fused = 0;
  std::uint64_t nodes_moved = 0;
  std::uint64_t barriers_dropped = 0;
};

/// Notes for PassStage::notes; null when the pipeline does not explain.
using PassNotes = std::vector<std::string>*;

PassCounts fuse(PassProgram& program, const PassOptions& options, PassNotes notes);
PassCounts reorder(PassProgram& program, const PassOptions& options, PassNotes notes);
PassCounts minimize(PassProgram& program, const PassOptions& options, PassNotes notes);

/// Throws Error(Internal) naming `pass` and the offending nodes unless `list` is acyclic (every
/// dependency names an earlier dispatch, every barrier_before the barrier before the node), every
/// RAW/WAR/WAW pair of dispatches is ordered (directly, transitively or through barriers), and
/// every arg is consistent with its kernel's params and lies inside its allocation.
void check_invariants(const CommandList& list, Pass pass);

}  // namespace encore::detail
