#pragma once

// Turns a command list into a CUDA graph with the explicit node API: one kernel node per
// dispatch, one empty node per barrier (a join: a barrier between two groups of n and m
// dispatches costs n + m edges, not n * m), and exactly the command list's ordering edges.

#include <cstdint>
#include <span>
#include <vector>

#include "backends/cuda/cuda_handles.h"
#include "backends/cuda/kernel_params.h"
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

struct BuiltGraph {
  Graph graph;
  /// The graph node of each command-list node (template nodes, as
  /// cudaGraphExecKernelNodeSetParams wants them).
  std::vector<cudaGraphNode_t> nodes;
};

/// The launch description of dispatch `node` with its packed params.
cudaKernelNodeParams kernel_node_params(const CommandList& list, std::uint32_t node,
                                        PackedParams& params);

/// True when dispatch `node` may be launched programmatically after its single predecessor: the
/// kernel declares it (KernelDef::programmatic_dependency) and the node depends on exactly one
/// other kernel node.
bool programmatic_after_predecessor(const CommandList& list, const Predecessors& preds,
                                    std::uint32_t node);

/// Builds the graph; with `programmatic` the edges into nodes that qualify (see above) are
/// programmatic dependencies. Throws encore::Error naming the dispatch when CUDA refuses a node.
BuiltGraph build_graph(const CommandList& list, PackedParams& params, bool programmatic);

/// The structure a graph executable depends on, one word per fact: node kinds, kernel functions,
/// launch shapes, shared memory and ordering edges. Two command lists with equal descriptors
/// can share an executable, patching only kernel parameters.
void describe_structure(const CommandList& list, bool programmatic,
                        std::vector<std::uint64_t>& out);

}  // namespace encore::detail
