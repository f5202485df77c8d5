#include "backends/cuda/graph_builder.h"

#include <string>

#include "backends/cuda/cuda_check.h"
#include "core/collective_params.h"
#include "core/early_reads.h"

namespace encore::detail {

namespace {

dim3 to_dim3(Dim3 d) { return dim3(d.x, d.y, d.z); }

}  // namespace

cudaKernelNodeParams kernel_node_params(const CommandList& list, std::uint32_t node,
                                        PackedParams& params) {
  const Node& n = list.nodes[node];
  cudaKernelNodeParams p{};
  p.func = const_cast<void*>(n.kernel->cuda);
  p.gridDim = to_dim3(n.launch.grid());
  p.blockDim = to_dim3(n.launch.block());
  p.sharedMemBytes = n.launch.shared_bytes();
  p.kernelParams = params.pointers(node);
  p.extra = nullptr;
  return p;
}

std::uint32_t programmatic_predecessor(const CommandList& list, CoveringPredecessors& cover,
                                       std::span<const std::uint8_t> early_hazards,
                                       std::uint32_t node) {
  const Node& n = list.nodes[node];
  if (n.kind != NodeKind::Dispatch || !n.kernel->programmatic_dependency) return kNoNode;
  if (early_hazards[node] != 0) return kNoNode;
  const std::uint32_t before = cover.of(node);
  return before != kNoNode && is_kernel_dispatch(list.nodes[before]) ? before : kNoNode;
}

BuiltGraph build_graph(const CommandList& list, PackedParams& params, bool programmatic,
                       CudaCollectives& collectives) {
  BuiltGraph built;
  cudaGraph_t graph = nullptr;
  ENCORE_CUDA_CHECK(cudaGraphCreate(&graph, 0));
  built.graph = Graph(graph);
  built.nodes.resize(list.nodes.size());
  const Predecessors preds = predecessors_of(list);
  CoveringPredecessors cover(preds);
  const std::vector<std::uint8_t> hazards =
      programmatic ? early_read_hazards(list) : std::vector<std::uint8_t>{};
  std::vector<cudaGraphNode_t> deps;
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    deps.clear();
    for (std::uint32_t p : preds.of(i)) deps.push_back(built.nodes[p]);
    const Node& n = list.nodes[i];
    const std::uint32_t early =
        programmatic ? programmatic_predecessor(list, cover, hazards, i) : kNoNode;
    cudaError_t status = cudaSuccess;
    if (n.kind == NodeKind::Barrier) {
      status = cudaGraphAddEmptyNode(&built.nodes[i], graph, deps.data(), deps.size());
    } else if (is_collective(n)) {
      // The node clones the captured graph, which may go once added.
      const Graph call = collectives.capture(list, i);
      status =
          cudaGraphAddChildGraphNode(&built.nodes[i], graph, deps.data(), deps.size(), call.get());
    } else {
      const cudaKernelNodeParams p = kernel_node_params(list, i, params);
      status =
          cudaGraphAddKernelNode(&built.nodes[i], graph, early != kNoNode ? nullptr : deps.data(),
                                 early != kNoNode ? 0 : deps.size(), &p);
    }
    if (status == cudaSuccess && early != kNoNode) {
      // One edge, from the covering predecessor's programmatic port: this kernel may start once
      // every block of it has triggered or exited, and waits in-kernel for it to complete; the
      // node's other predecessors precede that one, so their edges are implied.
      cudaGraphEdgeData edge{};
      edge.from_port = cudaGraphKernelNodePortProgrammatic;
      edge.type = cudaGraphDependencyTypeProgrammatic;
      status = cudaGraphAddDependencies(graph, &built.nodes[early], &built.nodes[i], &edge, 1);
    }
    if (status != cudaSuccess) {
      throw cuda_error(status, "adding a graph node").add_context(list.describe_node(i));
    }
  }
  return built;
}

void describe_structure(const CommandList& list, bool programmatic,
                        std::vector<std::uint64_t>& out) {
  out.clear();
  out.push_back(list.nodes.size() * 2 + (programmatic ? 1 : 0));
  const std::vector<std::uint8_t> hazards =
      programmatic ? early_read_hazards(list) : std::vector<std::uint8_t>(list.nodes.size(), 0);
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    const Node& n = list.nodes[i];
    if (n.kind == NodeKind::Barrier) {
      out.push_back(~std::uint64_t{0});
      continue;
    }
    if (is_collective(n)) {
      const CollectiveCall call = collective_call(list, i);
      out.push_back(~std::uint64_t{1});
      out.push_back(call.params.group);
      out.push_back((std::uint64_t{call.params.rank} << 32) | call.params.count);
      out.push_back((static_cast<std::uint64_t>(call.params.kind) << 8) |
                    static_cast<std::uint64_t>(call.params.op));
      out.push_back(reinterpret_cast<std::uintptr_t>(call.in));
      out.push_back(reinterpret_cast<std::uintptr_t>(call.out));
      continue;
    }
    const Launch& l = n.launch;
    out.push_back(reinterpret_cast<std::uintptr_t>(n.kernel->cuda) |
                  (n.kernel->programmatic_dependency ? 1U : 0U));  // functions are aligned
    out.push_back((std::uint64_t{l.grid().x} << 32) | l.grid().y);
    out.push_back((std::uint64_t{l.grid().z} << 32) | l.block().x);
    out.push_back((std::uint64_t{l.block().y} << 32) | l.block().z);
    out.push_back((std::uint64_t{hazards[i]} << 32) | l.shared_bytes());
  }
  // Edges, with a separator per target so that equal edge multisets in other places differ.
  for_each_ordering_edge(list, [&](std::uint32_t from, std::uint32_t to, const Dependency*) {
    out.push_back((std::uint64_t{to} << 32) | from);
  });
}

}  // namespace encore::detail
