#include "backends/cpu/task_graph.h"

namespace encore::detail {

TaskGraph build_task_graph(const CommandList& list) {
  const std::size_t n = list.nodes.size();
  TaskGraph g;
  g.predecessor_count.assign(n, 0);
  g.successor_offsets.assign(n + 1, 0);
  for_each_ordering_edge(list, [&](std::uint32_t from, std::uint32_t to, const Dependency*) {
    ++g.successor_offsets[from + 1];
    ++g.predecessor_count[to];
  });
  for (std::size_t i = 0; i < n; ++i) g.successor_offsets[i + 1] += g.successor_offsets[i];
  g.successors.resize(g.successor_offsets[n]);
  std::vector<std::uint32_t> fill(g.successor_offsets.begin(), g.successor_offsets.end() - 1);
  for_each_ordering_edge(list, [&](std::uint32_t from, std::uint32_t to, const Dependency*) {
    g.successors[fill[from]++] = to;
  });
  return g;
}

}  // namespace encore::detail
