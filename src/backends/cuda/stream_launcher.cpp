#include "backends/cuda/stream_launcher.h"

#include <string>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/graph_builder.h"

namespace encore::detail {

cudaEvent_t StreamLauncher::event(std::size_t index) {
  while (events_.size() <= index) events_.push_back(make_event(false));
  return events_[index].get();
}

void StreamLauncher::launch_one(const CommandList& list, std::uint32_t node, PackedParams& params,
                                cudaStream_t stream, bool sync_each) {
  const cudaKernelNodeParams p = kernel_node_params(list, node, params);
  cudaError_t status =
      cudaLaunchKernel(p.func, p.gridDim, p.blockDim, p.kernelParams, p.sharedMemBytes, stream);
  if (status == cudaSuccess && sync_each) status = cudaStreamSynchronize(stream);
  if (status != cudaSuccess) {
    throw cuda_error(status,
                     sync_each ? "cudaLaunchKernel + cudaStreamSynchronize" : "cudaLaunchKernel",
                     ErrorCode::KernelFailed)
        .add_context(list.describe_node(node));
  }
}

void StreamLauncher::launch(const CommandList& list, PackedParams& params, cudaStream_t queue,
                            ExecutionPath path, bool sync_each) {
  if (path == ExecutionPath::MultiStream && !sync_each && lane_count_ > 1) {
    launch_lanes(list, params, queue);
    return;
  }
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    if (list.nodes[i].kind == NodeKind::Dispatch) launch_one(list, i, params, queue, sync_each);
  }
}

void StreamLauncher::launch_lanes(const CommandList& list, PackedParams& params,
                                  cudaStream_t queue) {
  while (lanes_.size() < lane_count_) lanes_.push_back(make_stream());
  const std::size_t n = list.nodes.size();
  const Predecessors preds = predecessors_of(list);

  // Plan: a node continues the lane whose last node is one of its predecessors (extending a
  // chain costs no event); otherwise it takes the lane used longest ago.
  lane_of_.assign(n, 0);
  needs_event_.assign(n, 0);
  constexpr std::uint32_t kIdle = UINT32_MAX;
  lane_tail_.assign(lanes_.size(), kIdle);
  std::size_t next_lane = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t lane = kIdle;
    for (std::uint32_t p : preds.of(i)) {
      if (lane_tail_[lane_of_[p]] == p) {
        lane = lane_of_[p];
        break;
      }
    }
    if (lane == kIdle) {
      lane = static_cast<std::uint32_t>(next_lane);
      next_lane = (next_lane + 1) % lanes_.size();
    }
    lane_of_[i] = lane;
    lane_tail_[lane] = i;
    for (std::uint32_t p : preds.of(i)) {
      if (lane_of_[p] != lane) needs_event_[p] = 1;
    }
  }

  // Fork: every lane starts after the work already on the queue.
  cudaEvent_t fork = event(n);
  ENCORE_CUDA_CHECK(cudaEventRecord(fork, queue));
  for (const Stream& lane : lanes_) ENCORE_CUDA_CHECK(cudaStreamWaitEvent(lane.get(), fork, 0));

  for (std::uint32_t i = 0; i < n; ++i) {
    cudaStream_t stream = lanes_[lane_of_[i]].get();
    for (std::uint32_t p : preds.of(i)) {
      if (lane_of_[p] != lane_of_[i]) ENCORE_CUDA_CHECK(cudaStreamWaitEvent(stream, event(p), 0));
    }
    if (list.nodes[i].kind == NodeKind::Dispatch) launch_one(list, i, params, stream, false);
    if (needs_event_[i]) ENCORE_CUDA_CHECK(cudaEventRecord(event(i), stream));
  }

  // Join: the queue continues after every lane.
  for (std::size_t l = 0; l < lanes_.size(); ++l) {
    cudaEvent_t done = event(n + 1 + l);
    ENCORE_CUDA_CHECK(cudaEventRecord(done, lanes_[l].get()));
    ENCORE_CUDA_CHECK(cudaStreamWaitEvent(queue, done, 0));
  }
}

}  // namespace encore::detail
