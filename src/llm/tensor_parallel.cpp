// The devices, weights and communicators of a tensor-parallel decoder.

#include "llm/tensor_parallel.h"

#include <algorithm>
#include <string>
#include <thread>

#include "encore/error.h"

#include "llm/shard.h"

namespace encore::llm {

std::vector<Device> open_rank_devices(const DeviceOptions& options, std::uint32_t ranks) {
  if (ranks == 0) {
    throw Error(ErrorCode::InvalidArgument, "tensor parallelism needs at least 1 rank, got 0");
  }
  DeviceOptions rank_options = options;
  if (ranks > 1 && rank_options.cpu_threads == 0) {
    rank_options.cpu_threads = std::max(1U, std::thread::hardware_concurrency() / ranks);
  }
  std::vector<Device> devices;
  devices.reserve(ranks);
  for (std::uint32_t r = 0; r < ranks; ++r) {
    try {
      devices.push_back(Device::open(rank_options));
    } catch (Error& e) {
      throw e.add_context("the device of tensor-parallel rank " + std::to_string(r) + " of " +
                          std::to_string(ranks));
    }
    if (r == 0) rank_options.backend = devices[0].backend();
    ++rank_options.cuda_ordinal;
  }
  return devices;
}

ShardedWeights upload_sharded(std::span<const Device> devices, const HostWeights& weights,
                              const CommunicatorOptions& options) {
  const auto ranks = static_cast<std::uint32_t>(devices.size());
  check_tensor_parallel(weights.config, ranks);
  ShardedWeights sharded;
  sharded.devices = std::vector<Device>(devices.begin(), devices.end());
  sharded.ranks.reserve(ranks);
  for (std::uint32_t r = 0; r < ranks; ++r) {
    // One host shard at a time, so the host holds the model and one share, not N shares.
    if (ranks == 1) {
      sharded.ranks.push_back(upload(sharded.devices[r], weights));
    } else {
      sharded.ranks.push_back(upload(sharded.devices[r], shard_weights(weights, r, ranks)));
    }
  }
  if (ranks > 1) sharded.communicators = Communicator::create(devices, options);
  return sharded;
}

}  // namespace encore::llm
