#pragma once

// The dependency graph of one command list in executable form: for each node its number of
// predecessors and its successors (CSR). Barrier semantics are expanded here: a dispatch follows
// its barrier, a barrier follows every node of its group.

#include <cstdint>
#include <span>
#include <vector>

#include "core/command_list.h"

namespace encore::detail {

struct TaskGraph {
  std::vector<std::uint32_t> predecessor_count;
  std::vector<std::uint32_t> successor_offsets;  // size nodes + 1
  std::vector<std::uint32_t> successors;

  std::span<const std::uint32_t> successors_of(std::uint32_t node) const {
    return std::span<const std::uint32_t>(successors)
        .subspan(successor_offsets[node], successor_offsets[node + 1] - successor_offsets[node]);
  }
};

TaskGraph build_task_graph(const CommandList& list);

}  // namespace encore::detail
