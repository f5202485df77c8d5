#include "backends/cuda/stream_launcher.h"

#include <nvtx3/nvToolsExt.h>
#include <string>
#include <string_view>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/graph_builder.h"
#include "core/collective_params.h"
#include "core/early_reads.h"

namespace encore::detail {

void StreamLauncher::set_window(const cudaStreamAttrValue& value) {
  while (lanes_.size() < lane_count_) lanes_.push_back(make_stream());
  for (const Stream& lane : lanes_) {
    ENCORE_CUDA_CHECK(
        cudaStreamSetAttribute(lane.get(), cudaStreamAttributeAccessPolicyWindow, &value));
  }
}

cudaEvent_t StreamLauncher::event(std::size_t index) {
  while (events_.size() <= index) events_.push_back(make_event(false));
  return events_[index].get();
}

void StreamLauncher::launch_one(const CommandList& list, std::uint32_t node, PackedParams& params,
                                cudaStream_t stream, bool sync_each, bool programmatic) {
  const cudaKernelNodeParams p = kernel_node_params(list, node, params);
  // The dispatch's label as an NVTX range around its launch (Nsight Systems projects it onto
  // the kernel); free when no tool is attached.
  const char* label = list.node_label_c_str(list.nodes[node]);
  if (label != nullptr) nvtxRangePushA(label);
  struct PopRange {
    bool active;
    ~PopRange() {
      if (active) nvtxRangePop();
    }
  } pop{label != nullptr};
  cudaError_t status = cudaSuccess;
  if (programmatic) {
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = p.gridDim;
    config.blockDim = p.blockDim;
    config.dynamicSmemBytes = p.sharedMemBytes;
    config.stream = stream;
    config.attrs = &attribute;
    config.numAttrs = 1;
    status = cudaLaunchKernelExC(&config, p.func, p.kernelParams);
  } else {
    status =
        cudaLaunchKernel(p.func, p.gridDim, p.blockDim, p.kernelParams, p.sharedMemBytes, stream);
  }
  if (status == cudaSuccess && sync_each) status = cudaStreamSynchronize(stream);
  if (status != cudaSuccess) {
    throw cuda_error(status,
                     sync_each ? "cudaLaunchKernel + cudaStreamSynchronize" : "cudaLaunchKernel",
                     ErrorCode::KernelFailed)
        .add_context(list.describe_node(node));
  }
}

void StreamLauncher::launch(const CommandList& list, PackedParams& params,
                            CudaCollectives& collectives, cudaStream_t queue, ExecutionPath path,
                            bool sync_each, bool programmatic, LaunchTag* tag) {
  if (tag != nullptr) {
    launch_all<true>(list, params, collectives, queue, path, sync_each, programmatic, tag);
  } else {
    launch_all<false>(list, params, collectives, queue, path, sync_each, programmatic, nullptr);
  }
}

template <bool kTagged>
void StreamLauncher::launch_all(const CommandList& list, PackedParams& params,
                                CudaCollectives& collectives, cudaStream_t queue,
                                ExecutionPath path, bool sync_each, bool programmatic,
                                LaunchTag* tag) {
  if (path == ExecutionPath::MultiStream && !sync_each && lane_count_ > 1) {
    launch_lanes<kTagged>(list, params, collectives, queue, tag);
    return;
  }
  const Predecessors preds = programmatic ? predecessors_of(list) : Predecessors{};
  CoveringPredecessors cover(preds);
  const std::vector<std::uint8_t> hazards =
      programmatic ? early_read_hazards(list) : std::vector<std::uint8_t>{};
  std::uint32_t previous = kNoNode;  // the kernel launched last on the queue
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    if (list.nodes[i].kind != NodeKind::Dispatch) continue;
    const bool early = programmatic && previous != kNoNode &&
                       programmatic_predecessor(list, cover, hazards, i) == previous;
    if constexpr (kTagged) tag->next_dispatch(i);
    if (is_collective(list.nodes[i])) {
      if constexpr (kTagged) tag->expect_launch_on(queue);
      collectives.issue(list, i, queue);  // no kernel of ours: nothing may start early after it
    } else {
      launch_one(list, i, params, queue, sync_each, early);
    }
    previous = i;
  }
}

template <bool kTagged>
void StreamLauncher::launch_lanes(const CommandList& list, PackedParams& params,
                                  CudaCollectives& collectives, cudaStream_t queue,
                                  LaunchTag* tag) {
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
    if (list.nodes[i].kind == NodeKind::Dispatch) {
      if constexpr (kTagged) tag->next_dispatch(i);
      if (is_collective(list.nodes[i])) {
        if constexpr (kTagged) tag->expect_launch_on(stream);
        collectives.issue(list, i, stream);
      } else {
        launch_one(list, i, params, stream, false);
      }
    }
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
