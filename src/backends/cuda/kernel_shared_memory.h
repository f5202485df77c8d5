#pragma once

// The shared memory settings of the kernels one CUDA device launches, applied before a command
// list's first launch:
//  - opt-in: a dispatch whose dynamic shared memory, with the kernel's static shared memory,
//    passes the default 48 KiB a block gets its kernel's
//    cudaFuncAttributeMaxDynamicSharedMemorySize raised to that size;
//  - one carveout for every kernel: each gets the same preferred split of the multiprocessor's
//    unified L1 / shared memory, the smallest that holds the most demanding kernel launched so
//    far at its full occupancy. Why one: a multiprocessor runs with one split at a time, so a
//    block of a kernel whose split differs from that of the blocks resident there waits until
//    they drain. With programmatic dependent launch the next kernel's blocks are meant to start
//    beside the running one's, and with splits chosen per kernel by the driver they often did
//    not (docs/adr/0010-one-shared-memory-carveout.md has the measurements).

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "core/command_list.h"

namespace encore::detail {

class KernelSharedMemory {
 public:
  /// `shared_per_processor`: the multiprocessor's shared memory at the largest split;
  /// `reserved_per_block`: what the system reserves of it per resident block.
  KernelSharedMemory(std::uint32_t shared_per_processor, std::uint32_t reserved_per_block);

  /// Sets what `list`'s dispatches need on their kernels (on the current device), once per
  /// list. Throws encore::Error when the runtime refuses a setting.
  void prepare(const CommandList& list);

  /// The carveout set on every kernel, in percent of shared_per_processor (0 before any).
  int carveout_percent() const { return carveout_; }

 private:
  struct KernelState {
    bool known = false;              ///< static_bytes is read
    std::uint32_t static_bytes = 0;  ///< the kernel's static shared memory
    std::uint32_t opted_in = 0;      ///< dynamic shared bytes allowed beyond the default
    int carveout = -1;               ///< percent last set on it; -1: the driver's choice
  };
  /// A launch shape whose demand is counted.
  struct LaunchKey {
    const void* kernel;
    std::uint32_t threads;
    std::uint32_t shared;
    bool operator==(const LaunchKey&) const = default;
  };
  struct LaunchKeyHash {
    std::size_t operator()(const LaunchKey& k) const noexcept;
  };
  /// Shared bytes a multiprocessor holds for `key` at full occupancy (at most all of it).
  std::uint32_t demand_of(const LaunchKey& key, KernelState& state);
  void set_carveout(const void* kernel, KernelState& state, int percent);

  std::uint32_t shared_per_processor_;
  std::uint32_t reserved_per_block_;
  int carveout_ = 0;
  std::unordered_map<const void*, KernelState> kernels_;
  std::unordered_set<LaunchKey, LaunchKeyHash> counted_;
  std::uint64_t last_list_ = 0;  ///< id of the list prepared last, 0 for none (a replay skips)
};

}  // namespace encore::detail
