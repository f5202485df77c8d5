#pragma once

// The stream path: a command list launched kernel by kernel with cudaLaunchKernel, either on the
// device queue in program order (SingleStream), or on several lanes forked from the queue and
// joined back to it, with an event wait for each ordering edge that crosses lanes (MultiStream).
// It is the baseline the graph path is measured against and the path for debugging: with
// sync_each it synchronises after every dispatch, so a fault names its dispatch. Collectives are
// issued (NCCL) on the stream their node runs on, and never synchronised alone: they wait for
// their peers, which may be submitted after them by the same thread.

#include <cstdint>
#include <vector>

#include "backends/cuda/cuda_collectives.h"
#include "backends/cuda/cuda_handles.h"
#include "backends/cuda/cupti_session.h"
#include "backends/cuda/kernel_params.h"
#include "core/command_list.h"

namespace encore::detail {

class StreamLauncher {
 public:
  explicit StreamLauncher(std::size_t lanes) : lane_count_(lanes) {}

  /// Launches every dispatch of `list`. Throws encore::Error naming the dispatch when a launch
  /// fails, or (with `sync_each`) when a dispatch faults. With `programmatic`, on one stream, a
  /// dispatch whose kernel allows it and whose covering predecessor (the one all its other
  /// predecessors precede) is the kernel launched just before it is launched programmatically
  /// (it may start while that kernel runs).
  /// With `tag` (per-dispatch profiling) each launch is announced to it first; without, the
  /// untagged instantiation runs and profiling costs nothing per dispatch.
  void launch(const CommandList& list, PackedParams& params, CudaCollectives& collectives,
              cudaStream_t queue, ExecutionPath path, bool sync_each, bool programmatic,
              LaunchTag* tag = nullptr);

  /// Sets (num_bytes 0: clears) the L2 access-policy window of the lanes.
  void set_window(const cudaStreamAttrValue& value);

 private:
  template <bool kTagged>
  void launch_all(const CommandList& list, PackedParams& params, CudaCollectives& collectives,
                  cudaStream_t queue, ExecutionPath path, bool sync_each, bool programmatic,
                  LaunchTag* tag);
  void launch_one(const CommandList& list, std::uint32_t node, PackedParams& params,
                  cudaStream_t stream, bool sync_each, bool programmatic = false);
  template <bool kTagged>
  void launch_lanes(const CommandList& list, PackedParams& params, CudaCollectives& collectives,
                    cudaStream_t queue, LaunchTag* tag);
  cudaEvent_t event(std::size_t index);

  std::size_t lane_count_;
  std::vector<Stream> lanes_;
  std::vector<Event> events_;  // reused: a wait is enqueued before the event is recorded again
  // Planning scratch.
  std::vector<std::uint32_t> lane_of_;
  std::vector<std::uint8_t> needs_event_;
  std::vector<std::uint32_t> lane_tail_;
};

}  // namespace encore::detail
