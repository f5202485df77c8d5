#include "backends/cuda/cuda_profiling.h"

#include <cstdio>
#include <mutex>

#include "backends/cuda/cuda_check.h"
#include "core/collective_params.h"

namespace encore::detail {

namespace {

// The fallback is announced once per process, not once per device.
void announce_fallback(const std::string& why) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(stderr,
                 "encore: per-dispatch GPU times are unavailable, profiling per submission: %s\n",
                 why.c_str());
  });
}

// Calls f(node) for every kernel node of `graph`, inside its child graphs too.
template <class F>
void for_each_kernel_node(cudaGraph_t graph, F&& f) {
  std::size_t count = 0;
  ENCORE_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &count));
  std::vector<cudaGraphNode_t> nodes(count);
  ENCORE_CUDA_CHECK(cudaGraphGetNodes(graph, nodes.data(), &count));
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType type{};
    ENCORE_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
    if (type == cudaGraphNodeTypeKernel) {
      f(node);
    } else if (type == cudaGraphNodeTypeGraph) {
      cudaGraph_t child = nullptr;
      ENCORE_CUDA_CHECK(cudaGraphChildGraphNodeGetGraph(node, &child));
      for_each_kernel_node(child, f);
    }
  }
}

}  // namespace

CudaProfiling::CudaProfiling(const DeviceOptions& options, Profiler& profiler)
    : profiler_(profiler) {
  if (profiler.mode() != ProfileMode::Dispatch) return;
  std::string why;
  session_ = CuptiSession::acquire(options, why);
  if (!session_) {
    profiler.downgrade(ProfileMode::Submission, "per-dispatch GPU times are unavailable: " + why);
    announce_fallback(why);
    return;
  }
  sink_ = std::make_unique<CuptiSink>(session_->timestamp());
  session_->attach(*sink_);
  // Submission spans come from their kernels (CUPTI's clock), not from CUDA events.
  profiler.take_spans_from_dispatches();
}

CudaProfiling::~CudaProfiling() {
  if (session_) session_->detach(*sink_);
}

GraphProfileNodes CudaProfiling::map_nodes(const CommandList& list,
                                           const std::vector<cudaGraphNode_t>& template_nodes,
                                           const CloneCapture& capture) {
  auto map = std::make_shared<GraphNodeMap>();
  auto in_order = std::make_shared<KernelOrder>();
  std::uint32_t kernels = 0;
  for (std::uint32_t i = 0; i < list.nodes.size() && i < template_nodes.size(); ++i) {
    if (list.nodes[i].kind != NodeKind::Dispatch) continue;
    if (is_collective(list.nodes[i])) {
      // Instantiation flattens the child graph; CUPTI reports no executable id of its kernels.
      cudaGraph_t call = nullptr;
      ENCORE_CUDA_CHECK(cudaGraphChildGraphNodeGetGraph(template_nodes[i], &call));
      for_each_kernel_node(call, [&](cudaGraphNode_t) {
        ++kernels;
        in_order->push_back(i);
      });
      continue;
    }
    ++kernels;
    auto it = capture.executable_of.find(session_->node_id(template_nodes[i]));
    if (it != capture.executable_of.end()) map->emplace(it->second, i);
  }
  return {std::move(map), kernels, std::move(in_order)};
}

void CudaProfiling::collect() {
  if (!session_) return;
  session_->flush();
  CuptiSink::Drained d = sink_->drain();
  profiler_.add_dispatches(d.records);
  if (d.unattributed + d.dropped + d.foreign > 0) {
    profiler_.add_unattributed(d.unattributed, d.dropped, d.foreign);
  }
}

void CudaProfiling::reset() {
  if (!session_) return;
  session_->flush();
  sink_->reset(session_->timestamp());
}

}  // namespace encore::detail
