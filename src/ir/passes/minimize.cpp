// Minimize: drop explicit barriers no hazard crosses, and reduce dependency edges transitively.
//
// Design note.
// Barriers. Walk the explicit barriers in order, keeping the "merged group": the dispatches since
// the last barrier kept. A barrier is dropped when no dispatch between it and the next barrier
// conflicts with a dispatch of the merged group (its group then joins the merged group); else it
// is kept, and remembers one hazard across it as the reason it stays. Conflicts come from the
// hazard graph (a direct conflict between the two groups shows as a graph edge from the merged
// group into the next one, since every path between them runs through nodes of the two groups).
// Pairs further apart stay ordered by the barriers kept between them. The rule is the same in
// every ordering mode: in serial ordering the chain orders everything anyway, in auto_dag the
// barrier is the user's fence and only a barrier that orders nothing is dropped, and in barriers
// ordering this is the barrier minimisation of llama.cpp's recorded graphs. Inferred barriers
// are already minimal: materialize places them only where a hazard needs one.
//
// Edges. The encoder drops an edge only when another new edge's source depends on the same node
// directly. After minimize, materialize drops every edge some path of other edges implies (a
// transitive reduction: the CUDA graph gets fewer edges, the CPU backend fewer counters).

#include <string>

#include "ir/passes/passes.h"

namespace encore::detail {

PassCounts minimize(PassProgram& p, const PassOptions& /*options*/, PassNotes notes) {
  PassCounts counts;
  p.reduce_edges = true;
  bool any_barrier = false;
  for (std::uint32_t id : p.sequence) any_barrier |= p.node(id).kind == NodeKind::Barrier;
  if (!any_barrier) return counts;
  ensure_hazard_graph(p, /*across_barriers=*/true);
  // Position of each dispatch in the current sequence, for "is this node in the merged group".
  std::vector<std::uint32_t> position(p.node_count(), kNoNode);
  for (std::uint32_t pos = 0; pos < p.sequence.size(); ++pos) position[p.sequence[pos]] = pos;
  std::vector<std::uint32_t> kept;
  kept.reserve(p.sequence.size());
  std::uint32_t merged_start = 0;  // position of the merged group's first node
  for (std::uint32_t pos = 0; pos < p.sequence.size(); ++pos) {
    const std::uint32_t id = p.sequence[pos];
    if (p.node(id).kind != NodeKind::Barrier) {
      kept.push_back(id);
      continue;
    }
    // The group after this barrier, up to the next one: does any of it depend on the merged group?
    const Dependency* across = nullptr;
    std::uint32_t later = kNoNode;
    for (std::uint32_t q = pos + 1; q < p.sequence.size() && across == nullptr; ++q) {
      const std::uint32_t h = p.sequence[q];
      if (p.node(h).kind == NodeKind::Barrier) break;
      for (const Dependency& d : p.preds(h)) {
        const std::uint32_t from = position[p.rep(d.node)];
        if (from >= merged_start && from < pos) {
          across = &d;
          later = h;
          break;
        }
      }
    }
    if (across == nullptr) {
      ++counts.barriers_dropped;
      if (notes != nullptr)
        notes->push_back("dropped " + p.describe(id) + ": no hazard crosses it");
      continue;
    }
    if (p.barrier_reason.size() < p.node_count()) p.barrier_reason.resize(p.node_count());
    p.barrier_reason[id] = *across;
    if (notes != nullptr) {
      notes->push_back("kept " + p.describe(id) + ": " + p.describe(later) + " " +
                       std::string(to_string(across->kind)) + " after " + p.describe(across->node));
    }
    kept.push_back(id);
    merged_start = pos + 1;
  }
  p.sequence.swap(kept);
  return counts;
}

}  // namespace encore::detail
