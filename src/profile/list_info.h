#pragma once

// What a profile needs to know about a command list after the list itself is gone (command lists
// are recycled, and hold buffers alive): each node's label, op kind, kernel name and launch
// shape, and the dispatch graph the trace draws arrows from. Built once per command list that
// runs while profiling is on, and shared by every submission of it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "encore/profile.h"
#include "encore/recording.h"
#include "encore/types.h"

#include "core/command_list.h"

namespace encore::detail {

struct ListInfo {
  struct Node {
    NodeKind kind = NodeKind::Dispatch;
    OpKind op = OpKind::Other;
    std::string label;
    std::string kernel;
    Dim3 grid;
    Dim3 block;
    std::uint32_t shared_bytes = 0;
  };

  std::uint64_t list_id = 0;
  std::vector<Node> nodes;
  std::uint32_t dispatch_count = 0;
  std::shared_ptr<const DispatchGraph> graph;
};

/// The facts of `list`, as recorded in the list that ran.
std::shared_ptr<const ListInfo> make_list_info(const CommandList& list);

/// What each node of `list` waits for, as DispatchGraph documents: recorded dependencies, and
/// after a barrier every dispatch of the group before it (through consecutive barriers).
DispatchGraph make_dispatch_graph(const CommandList& list);

}  // namespace encore::detail
