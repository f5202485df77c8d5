#include "core/predecessors.h"

#include <algorithm>

namespace encore::detail {

Predecessors predecessors_of(const CommandList& list) {
  Predecessors p;
  p.begin.assign(list.nodes.size() + 1, 0);
  for_each_ordering_edge(
      list, [&](std::uint32_t, std::uint32_t to, const Dependency*) { ++p.begin[to + 1]; });
  for (std::size_t i = 0; i < list.nodes.size(); ++i) p.begin[i + 1] += p.begin[i];
  p.nodes.resize(p.begin.back());
  std::vector<std::uint32_t> fill(p.begin.begin(), p.begin.end() - 1);
  for_each_ordering_edge(list, [&](std::uint32_t from, std::uint32_t to, const Dependency*) {
    p.nodes[fill[to]++] = from;
  });
  return p;
}

CoveringPredecessors::CoveringPredecessors(const Predecessors& preds)
    : preds_(preds), mark_(preds.begin.empty() ? 0 : preds.begin.size() - 1, 0) {}

std::uint32_t CoveringPredecessors::of(std::uint32_t node) {
  const std::span<const std::uint32_t> preds = preds_.of(node);
  if (preds.empty()) return kNoNode;
  // Edges always point from an earlier node to a later one, so the latest predecessor is the
  // only candidate, and no ancestor search needs to look below the earliest one.
  const std::uint32_t latest = *std::max_element(preds.begin(), preds.end());
  const std::uint32_t earliest = *std::min_element(preds.begin(), preds.end());
  // Two marks per query: `wanted` for the other predecessors, `seen` for visited nodes.
  if (stamp_ >= UINT32_MAX - 2) {  // wrap: forget every old mark
    std::fill(mark_.begin(), mark_.end(), 0);
    stamp_ = 0;
  }
  stamp_ += 2;
  const std::uint32_t wanted = stamp_;
  const std::uint32_t seen = stamp_ + 1;
  std::uint32_t missing = 0;
  for (const std::uint32_t p : preds) {
    if (p == latest || mark_[p] == wanted) continue;
    mark_[p] = wanted;
    ++missing;
  }
  if (missing == 0) return latest;
  stack_.clear();
  stack_.push_back(latest);
  std::uint32_t visited = 0;
  while (!stack_.empty()) {
    const std::uint32_t x = stack_.back();
    stack_.pop_back();
    for (const std::uint32_t q : preds_.of(x)) {
      if (q < earliest || mark_[q] == seen) continue;
      if (mark_[q] == wanted && --missing == 0) return latest;
      mark_[q] = seen;
      if (++visited > kVisitBudget) return kNoNode;
      stack_.push_back(q);
    }
  }
  return kNoNode;
}

}  // namespace encore::detail
