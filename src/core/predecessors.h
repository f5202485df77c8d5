#pragma once

// The predecessors of every node of a command list (from its ordering semantics: dependency
// edges and barriers), and the question programmatic dependent launch asks of them: is there one
// predecessor that every other predecessor precedes? Then waiting for that one waits for all
// (when every node completes only after its own predecessors), so a backend may start the node
// early behind that predecessor alone.
//
// The encoder's auto_dag ordering keeps an edge to every earlier node a dispatch conflicts with
// (pruning only edges implied by one other edge), so in a decode chain a dispatch typically has
// two or three predecessors, all of them on one path; this finds the last of that path.

#include <cstdint>
#include <span>
#include <vector>

#include "core/command_list.h"

namespace encore::detail {

/// Predecessors of every node in CSR form, from the command list's ordering semantics.
struct Predecessors {
  std::vector<std::uint32_t> begin;  // per node, plus one
  std::vector<std::uint32_t> nodes;

  std::span<const std::uint32_t> of(std::uint32_t node) const {
    return std::span<const std::uint32_t>(nodes).subspan(begin[node],
                                                         begin[node + 1] - begin[node]);
  }
};
Predecessors predecessors_of(const CommandList& list);

/// Finds covering predecessors: for a node, the predecessor that every other predecessor of the
/// node reaches through predecessor edges. Reuses its scratch across queries; not thread-safe.
class CoveringPredecessors {
 public:
  /// Nodes a query may visit before it gives up (and answers kNoNode): bounds the cost on
  /// graphs where a node depends on one far back.
  static constexpr std::uint32_t kVisitBudget = 1024;

  explicit CoveringPredecessors(const Predecessors& preds);

  /// The covering predecessor of `node`: its only predecessor, or the latest one when every
  /// other predecessor is an ancestor of it; kNoNode when the node has none, or two of them are
  /// unordered, or the search exceeds the budget.
  std::uint32_t of(std::uint32_t node);

 private:
  const Predecessors& preds_;
  std::vector<std::uint32_t> mark_;
  std::vector<std::uint32_t> stack_;
  std::uint32_t stamp_ = 0;
};

}  // namespace encore::detail
