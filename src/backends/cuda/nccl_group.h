#pragma once

// One process's part of a group of CUDA devices: an NCCL communicator per rank of this process,
// and what the group's ranks share here (its failure, the agreement of their collectives).
//
// Communicators are non-blocking (ncclCommInitRankConfig with blocking = 0): every NCCL call that
// says ncclInProgress is polled with ncclCommGetAsyncError until it settles or the group's
// timeout passes, so no call can hang. They connect to their peers when they are set up
// (NCCL_RUNTIME_CONNECT=0 unless the environment says otherwise): enqueueing a collective then
// needs nothing of the peers, and one thread may submit for every rank of a process in turn.
//
// Failure: the first failure (an NCCL error, a timeout, a disagreement, abort()) fails the group
// with its message; each rank's communicator is then aborted (ncclCommAbort, which also ends its
// kernels) by the thread that watches the rank's work, and every later collective fails at once.
//
// Agreement: before a recording's collectives first run on a rank, the rank posts their list
// (kind, op, count: the NCCL call each makes), hashed; the n-th list a rank posts must equal the
// n-th of every other rank of this process. A rank whose list differs does not launch it, and the
// group fails naming the first collective that differs. Ranks in other processes are not
// compared (a disagreement with them ends in the timeout, as a peer that never calls would).
//
// Thread safety: every member function may be called from any thread. NCCL calls on one
// communicator are serialised by its rank's mutex.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nccl.h>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/nccl_groups.h"
#include "core/collective_params.h"

namespace encore::detail {

class NcclGroup {
 public:
  /// One collective as the agreement check sees it.
  struct Call {
    CollectiveParams params;
    std::string label;
  };

  explicit NcclGroup(NcclGroupInfo info);
  /// Finalises and destroys the communicators that were not aborted (aborting those that do not
  /// finish within the timeout).
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  /// The group with this id, or null when none of this process is alive.
  static std::shared_ptr<NcclGroup> find(std::uint64_t id);
  static void publish(const std::shared_ptr<NcclGroup>& group);

  /// Sets up the communicators of `ranks` (on `ordinals`) with `id`, all in one NCCL group call,
  /// and waits for them. Throws Error(KernelFailed) when NCCL fails or the timeout passes (the
  /// communicators made are aborted).
  void init(const ncclUniqueId& id, std::span<const std::uint32_t> ranks,
            std::span<const int> ordinals, std::string_view what);

  std::uint64_t id() const noexcept { return info_.id; }
  std::uint32_t ranks() const noexcept { return info_.ranks; }
  std::chrono::milliseconds timeout() const noexcept { return info_.timeout; }

  /// Enqueues collective `call` of `rank` on `stream` (or into the stream's capture); returns
  /// once NCCL has enqueued it. Throws Error(KernelFailed), naming the collective, when the group
  /// has failed or NCCL fails (which fails the group).
  void enqueue(const CollectiveCall& call, cudaStream_t stream);

  /// Posts `rank`'s next list of collectives (see Agreement above). Throws Error(KernelFailed)
  /// naming the first collective that differs from a list another rank posted (which fails the
  /// group), or when the group has failed.
  void agree(std::uint32_t rank, std::vector<Call> calls);

  /// The group's failure message, if it failed.
  std::optional<std::string> failure() const;
  /// Fails the group with `why` (the first failure wins); returns the group's failure message.
  std::string fail(const std::string& why);
  /// NCCL's asynchronous error of `rank`'s communicator, as a message, if it has one.
  std::optional<std::string> async_error(std::uint32_t rank);
  /// Aborts `rank`'s communicator (once), ending its kernels.
  void abort_rank(std::uint32_t rank) noexcept;

  /// "collective 'x' on rank 1 of 2" for messages.
  std::string describe(const CollectiveCall& call) const;

 private:
  struct Member {
    std::mutex mutex;
    ncclComm_t comm = nullptr;
    int ordinal = -1;
    bool aborted = false;
    std::uint64_t posted = 0;  // lists posted for the agreement check
  };
  struct Round {  // the n-th posted list of every local rank
    std::vector<std::optional<std::vector<Call>>> calls;
    std::vector<std::uint64_t> hashes;
    std::uint32_t posted = 0;
  };

  Member& member(std::uint32_t rank);
  /// Polls `comm` until `status` is no longer ncclInProgress or `deadline` passes.
  ncclResult_t settle(ncclComm_t comm, ncclResult_t status,
                      std::chrono::steady_clock::time_point deadline) const;
  std::string nccl_message(ncclComm_t comm, ncclResult_t status) const;
  std::string first_difference(std::uint32_t a, const std::vector<Call>& calls_a, std::uint32_t b,
                               const std::vector<Call>& calls_b) const;

  const NcclGroupInfo info_;
  std::vector<std::unique_ptr<Member>> members_;  // by rank; null for ranks of other processes
  std::uint32_t local_ranks_ = 0;

  mutable std::mutex mutex_;  // failure_ and rounds_
  std::optional<std::string> failure_;
  std::map<std::uint64_t, Round> rounds_;
};

}  // namespace encore::detail
