#pragma once

// The CPU rendezvous behind a Communicator group (include/encore/collective.h).
//
// Each collective is one round: every rank posts its call (kind, op, element count, pointers)
// and waits; the last to arrive checks that the calls agree and forms the result (reductions in
// rank order, so results are the same bits on every run); every rank copies the result out, and
// the last to leave opens the next round. A rank arriving for the next round while the current
// one is still being left waits at the door. Every wait ends after the group's timeout, which
// fails the group; so do a disagreement and abort(). A failed group fails every later call at
// once, with the first failure's message.
//
// Groups are found by id from the collective kernels (a kernel's args are buffers and values):
// a process-wide table holds them weakly, so a group lives as long as a Communicator of it.
//
// A group of CUDA devices runs its collectives with NCCL instead (backends/cuda/nccl_group.h):
// it holds that part, and abort() fails it too.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "encore/collective.h"
#include "encore/kernel.h"

#include "core/collective_params.h"

namespace encore::detail {

class NcclGroup;

/// Registers collective_all_reduce_f32 and collective_all_gather_f32 (the built-in registry).
void register_collective_kernels(KernelRegistry& registry);

class CollectiveGroup {
 public:
  CollectiveGroup(std::uint32_t ranks, std::chrono::milliseconds timeout, std::string label);

  std::uint64_t id() const noexcept { return id_; }
  std::uint32_t ranks() const noexcept { return ranks_; }
  const std::string& label() const noexcept { return label_; }

  /// One rank's call of the current round: `in` has p.count floats; `out` has p.count floats
  /// (all_reduce; it may be `in`) or ranks() * p.count (all_gather). `what` names the dispatch
  /// in errors. Throws Error(KernelFailed) when the group fails.
  void run(const CollectiveParams& p, const float* in, float* out, const std::string& what);

  /// Fails the group with `why` (no effect when it has failed already), its NCCL part too.
  void abort(const std::string& why);

  /// The NCCL part of a group of CUDA devices (set once, before the group is published).
  void set_nccl(std::shared_ptr<NcclGroup> nccl) { nccl_ = std::move(nccl); }
  const std::shared_ptr<NcclGroup>& nccl() const noexcept { return nccl_; }

  /// The group with this id, or null when no Communicator of it is left.
  static std::shared_ptr<CollectiveGroup> find(std::uint64_t id);
  /// Makes a group findable by id (called once, by Communicator::create).
  static void publish(const std::shared_ptr<CollectiveGroup>& group);

 private:
  struct Call {
    CollectiveParams params;
    const float* in = nullptr;
    float* out = nullptr;
    std::string what;
  };

  std::string describe(const Call& c) const;
  void set_failure_locked(const std::string& why);        // the first failure; wakes everyone
  [[noreturn]] void fail_locked(const std::string& why);  // set_failure_locked, then throws
  void check_failed_locked() const;                       // throws when the group has failed
  void wait_locked(std::unique_lock<std::mutex>& lock, std::uint32_t rank, const char* for_what,
                   const std::function<bool()>& done);
  void complete_round_locked();  // the last arrival: agreement check and the result

  const std::uint64_t id_;
  const std::uint32_t ranks_;
  const std::chrono::milliseconds timeout_;
  const std::string label_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::optional<Call>> calls_;  // this round, by rank
  std::uint32_t arrived_ = 0;
  std::uint32_t left_ = 0;
  bool result_ready_ = false;  // the round's result is formed; ranks are leaving
  std::vector<float> result_;
  std::uint64_t rounds_ = 0;  // completed rounds
  std::optional<std::string> failure_;
  std::shared_ptr<NcclGroup> nccl_;  // null for CPU devices
};

}  // namespace encore::detail
