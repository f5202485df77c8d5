#pragma once

// The collective dispatches of a command list on the CUDA backend (docs/adr/0007-collectives.md):
// each is one NCCL call on its rank's communicator (backends/cuda/nccl_group.h).
//
// - Stream path: the call is issued on the stream the node's dependencies picked.
// - Graph path: the call is stream-captured once into a graph of its own, which becomes a
//   child-graph node with the node's dependencies, so a step stays one cudaGraphLaunch. Its
//   buffers and communicator are part of the executable's structure (graph_builder.h), so an
//   executable is never patched to other ones; it keeps its groups alive (NCCL's captured work
//   must not outlive its communicator).
// - Before a command list first runs, each rank posts its list of collectives of each group for
//   the agreement check; a group that failed refuses every later list at once.
// - While a submission with collectives runs, its watch (completion_queue.h) fails it when a
//   group fails, NCCL reports an asynchronous error or the group's timeout passes, aborting the
//   communicators so the work ends.
//
// Without NCCL (cuda_collectives_no_nccl.cpp) no group of CUDA devices can be formed, so no
// collective reaches the backend; prepare() refuses one all the same.

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_set>

#include "backends/cuda/completion_queue.h"
#include "backends/cuda/cuda_handles.h"
#include "core/command_list.h"

namespace encore::detail {

class CudaCollectives {
 public:
  /// True when encore was built with NCCL (the backend then implements the collective kernels).
  static bool built() noexcept;

  /// Before `list` is launched: checks its collectives' groups (alive, not failed), posts its
  /// collectives for the agreement check when the list runs for the first time, and returns the
  /// watch of its submission, which also keeps its groups alive (null when it has no
  /// collectives). Throws Error(KernelFailed) naming the collective when a group has failed or
  /// the ranks disagree.
  std::shared_ptr<InFlightWatch> prepare(const CommandList& list);
  /// Issues collective dispatch `node` on `stream` (returns once NCCL has enqueued it).
  void issue(const CommandList& list, std::uint32_t node, cudaStream_t stream);
  /// Collective dispatch `node` captured into a graph of its own.
  Graph capture(const CommandList& list, std::uint32_t node);

 private:
  /// Lists whose collectives were posted, oldest first (bounded: ranks that submit the same
  /// lists forget the same ones, so a list posted again is posted again on every rank).
  static constexpr std::size_t kRemembered = 4096;
  std::unordered_set<std::uint64_t> agreed_;
  std::deque<std::uint64_t> agreed_order_;
  Stream capture_stream_;
};

}  // namespace encore::detail
