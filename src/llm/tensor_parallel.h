#pragma once

/// \file
/// A decoder split over several devices (tensor parallelism, the layout of shard.h): one device
/// per rank, each rank's weights on its device, and the communicators whose all_reduce joins
/// the ranks' partial sums. Runner takes the result and runs every rank's step.

#include <cstdint>
#include <span>
#include <vector>

#include "encore/collective.h"
#include "encore/device.h"

#include "llm/weights.h"

namespace encore::llm {

/// Opens one device per rank. Rank 0 gets `options`; the others the backend rank 0 got (so an
/// Auto fallback applies to every rank alike) and, on CUDA, the next ordinals (cuda_ordinal +
/// rank). CPU devices of one process share its cores, so with cpu_threads 0 each gets its share
/// of the hardware threads (at least one). Throws Error(InvalidArgument) for 0 ranks, and what
/// Device::open throws (e.g. Error(BackendUnavailable) when there are fewer GPUs than ranks),
/// naming the rank.
std::vector<Device> open_rank_devices(const DeviceOptions& options, std::uint32_t ranks);

/// Every rank's part of a model, in rank order.
struct ShardedWeights {
  std::vector<Device> devices;
  std::vector<DeviceWeights> ranks;         ///< ranks[r] lives on devices[r]
  std::vector<Communicator> communicators;  ///< empty for one rank (no collective is needed)
};

/// Shards `weights` over `devices` (one rank each, in order) and uploads each rank's share to
/// its device; with more than one device, forms their communicator group (`options`). Throws
/// what check_tensor_parallel throws when the model cannot be split over that many ranks, and
/// what Communicator::create throws.
ShardedWeights upload_sharded(std::span<const Device> devices, const HostWeights& weights,
                              const CommunicatorOptions& options = {.label = "tp"});

}  // namespace encore::llm
