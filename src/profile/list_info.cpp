#include "profile/list_info.h"

namespace encore::detail {

DispatchGraph make_dispatch_graph(const CommandList& list) {
  const std::size_t n = list.nodes.size();
  // For each barrier: the dispatches a dispatch after it waits for (its group, or the group
  // before an empty one).
  std::vector<std::vector<std::uint32_t>> barrier_waits(n);
  std::vector<std::uint32_t> group;
  std::uint32_t last_barrier = kNoNode;
  for (std::uint32_t i = 0; i < n; ++i) {
    const Node& node = list.nodes[i];
    if (node.kind == NodeKind::Barrier) {
      barrier_waits[i] =
          group.empty() && last_barrier != kNoNode ? barrier_waits[last_barrier] : group;
      group.clear();
      last_barrier = i;
    } else {
      group.push_back(i);
    }
  }
  DispatchGraph graph;
  graph.begin.reserve(n + 1);
  graph.begin.push_back(0);
  for (std::uint32_t i = 0; i < n; ++i) {
    const Node& node = list.nodes[i];
    if (node.kind == NodeKind::Dispatch) {
      const std::size_t first = graph.waits.size();
      for (const Dependency& d : list.node_deps(node)) {
        if (d.node < n && list.nodes[d.node].kind == NodeKind::Dispatch) {
          graph.waits.push_back(d.node);
        }
      }
      if (node.barrier_before != kNoNode) {
        for (std::uint32_t w : barrier_waits[node.barrier_before]) {
          // A recorded dependency on the same dispatch is listed once.
          bool seen = false;
          for (std::size_t k = first; k < graph.waits.size() && !seen; ++k) {
            seen = graph.waits[k] == w;
          }
          if (!seen) graph.waits.push_back(w);
        }
      }
    }
    graph.begin.push_back(static_cast<std::uint32_t>(graph.waits.size()));
  }
  return graph;
}

std::shared_ptr<const ListInfo> make_list_info(const CommandList& list) {
  auto info = std::make_shared<ListInfo>();
  info->list_id = list.id;
  info->dispatch_count = list.dispatch_count;
  info->nodes.reserve(list.nodes.size());
  for (const Node& n : list.nodes) {
    ListInfo::Node out;
    out.kind = n.kind;
    if (n.kind == NodeKind::Dispatch) {
      out.op = n.op;
      out.label = std::string(list.node_label(n));
      if (n.kernel != nullptr) out.kernel = n.kernel->name;
      out.grid = n.launch.grid();
      out.block = n.launch.block();
      out.shared_bytes = n.launch.shared_bytes();
    }
    info->nodes.push_back(std::move(out));
  }
  info->graph = std::make_shared<const DispatchGraph>(make_dispatch_graph(list));
  return info;
}

}  // namespace encore::detail
