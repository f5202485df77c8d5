#include "backends/cuda/cuda_profiling.h"

#include <cstdio>
#include <mutex>

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

std::shared_ptr<const GraphNodeMap> CudaProfiling::map_nodes(
    const CommandList& list, const std::vector<cudaGraphNode_t>& template_nodes,
    const CloneCapture& capture) {
  auto map = std::make_shared<GraphNodeMap>();
  for (std::uint32_t i = 0; i < list.nodes.size() && i < template_nodes.size(); ++i) {
    if (list.nodes[i].kind != NodeKind::Dispatch) continue;
    auto it = capture.executable_of.find(session_->node_id(template_nodes[i]));
    if (it != capture.executable_of.end()) map->emplace(it->second, i);
  }
  return map;
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
