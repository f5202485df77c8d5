#pragma once

// What the runtime asks of NCCL to form a group of CUDA devices (Communicator::create, ::join and
// ::new_unique_id). Free of NCCL and CUDA types, so the runtime compiles without either; built
// from backends/cuda/nccl_group.cpp, or from backends/cuda/no_nccl.cpp where encore is built
// without NCCL (then every function throws Error(BackendUnavailable) saying so).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace encore::detail {

class NcclGroup;  // backends/cuda/nccl_group.h

/// What names and bounds a group.
struct NcclGroupInfo {
  std::uint64_t id = 0;  ///< the CollectiveGroup's id, which collective dispatches carry
  std::uint32_t ranks = 0;
  std::chrono::milliseconds timeout{10'000};        ///< for each collective
  std::chrono::milliseconds setup_timeout{60'000};  ///< for NCCL's setup of the communicators
  std::string label;
};

/// True when encore was built with NCCL.
bool nccl_built() noexcept;

/// Every rank of a group in this process: rank r on CUDA device ordinals[r]. Returns when NCCL
/// has set up every communicator. Throws Error(KernelFailed) when NCCL fails or does not finish
/// within the timeout (nothing is left behind), Error(BackendUnavailable) without NCCL.
std::shared_ptr<NcclGroup> nccl_create_group(const NcclGroupInfo& info,
                                             std::span<const int> ordinals);

/// One rank joining a group whose other ranks join elsewhere (threads or processes) with the
/// same `unique_id` (the bytes of an id from nccl_new_unique_id). Returns when NCCL has set up
/// the communicator, which needs every rank; throws as nccl_create_group, and
/// Error(InvalidArgument) for an id of the wrong size.
std::shared_ptr<NcclGroup> nccl_join_group(const NcclGroupInfo& info, std::uint32_t rank,
                                           int ordinal, std::span<const std::byte> unique_id);

/// A new NCCL unique id (its bytes). The process that makes it hosts the group's bootstrap, so
/// it must stay alive until every rank has joined.
std::vector<std::byte> nccl_new_unique_id();

/// Fails the group with `why`: collectives in flight are aborted by their device's completion
/// thread, and every later one fails at once.
void nccl_fail_group(NcclGroup& group, const std::string& why);

}  // namespace encore::detail
