#pragma once

// Turns a command list into a CUDA graph with the explicit node API: one kernel node per
// dispatch, one child-graph node per collective (its NCCL call, captured), one empty node per
// barrier (a join: a barrier between two groups of n and m dispatches costs n + m edges, not
// n * m), and exactly the command list's ordering edges.

#include <cstdint>
#include <span>
#include <vector>

#include "backends/cuda/cuda_collectives.h"
#include "backends/cuda/cuda_handles.h"
#include "backends/cuda/kernel_params.h"
#include "core/command_list.h"
#include "core/predecessors.h"

namespace encore::detail {

struct BuiltGraph {
  Graph graph;
  /// The graph node of each command-list node (template nodes, as
  /// cudaGraphExecKernelNodeSetParams wants them).
  std::vector<cudaGraphNode_t> nodes;
};

/// The launch description of dispatch `node` with its packed params.
cudaKernelNodeParams kernel_node_params(const CommandList& list, std::uint32_t node,
                                        PackedParams& params);

/// The kernel node dispatch `node` may be launched programmatically after, or kNoNode: the
/// kernel declares it (KernelDef::programmatic_dependency) and its covering predecessor (the
/// one every other predecessor precedes, core/predecessors.h) is a kernel node. Every other
/// predecessor has then completed when that one has (kernels that declare the dependency wait
/// for their own predecessors in at least one block of every launch). A collective is not a
/// kernel node (programmatic edges are kernel to kernel): its successors wait with full edges.
/// Nor is a dispatch that reads, before its wait, memory an earlier dispatch of the list writes
/// (`early_hazards`, from early_read_hazards(list)): it waits for everything before it.
std::uint32_t programmatic_predecessor(const CommandList& list, CoveringPredecessors& cover,
                                       std::span<const std::uint8_t> early_hazards,
                                       std::uint32_t node);

/// Builds the graph; with `programmatic` a node that qualifies (see above) gets one programmatic
/// edge from that predecessor instead of its edges (the others are implied). Collectives are
/// captured through `collectives`. Throws encore::Error naming the dispatch when CUDA refuses a
/// node.
BuiltGraph build_graph(const CommandList& list, PackedParams& params, bool programmatic,
                       CudaCollectives& collectives);

/// The structure a graph executable depends on, one word per fact: node kinds, kernel functions,
/// launch shapes, shared memory, early-read hazards (which change the programmatic edges while
/// the ordering edges may stay the same), ordering edges, and for a collective everything its
/// captured call holds (group, rank, op, count, buffer addresses). Two command lists with equal
/// descriptors can share an executable, patching only kernel parameters.
void describe_structure(const CommandList& list, bool programmatic,
                        std::vector<std::uint64_t>& out);

}  // namespace encore::detail
