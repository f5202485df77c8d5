#pragma once

// What a backend receives for one submission, and where it reports the outcome.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "encore/error.h"
#include "encore/submission.h"

#include "core/allocation.h"
#include "core/command_list.h"
#include "core/fence_state.h"

namespace encore::detail {

struct FenceWait {
  std::shared_ptr<FenceState> fence;
  std::uint64_t value = 0;
};

struct SubmissionState {
  // ---- the work (set before the backend sees it) ----
  std::shared_ptr<DeviceShared> device;
  std::string label;
  std::uint64_t sequence = 0;
  bool replay = false;
  /// Released when the submission completes (which releases retained buffers).
  std::shared_ptr<const CommandList> commands;
  std::vector<std::byte> slot_values;
  std::vector<FenceWait> waits;
  std::shared_ptr<FenceState> signal;
  std::uint64_t signal_value = 0;

  // ---- the outcome ----
  /// Called exactly once by the backend when the work has finished or failed: records the
  /// outcome, releases the commands, completes the signalled fence value, updates counters and
  /// queue progress, then wakes waiters.
  void complete(std::optional<Error> failure, std::chrono::nanoseconds elapsed) noexcept;

  /// Blocks until complete() ran.
  void wait_done() const;
  bool wait_done_for(std::chrono::nanoseconds timeout) const;

  mutable std::mutex mutex;
  mutable std::condition_variable cv;
  SubmissionStatus status = SubmissionStatus::Committed;
  std::optional<Error> error;
  std::chrono::nanoseconds time{0};
};

/// Waits for each fence value in `waits`; returns the failure if a signaller failed.
std::optional<Error> wait_for_fences(const std::vector<FenceWait>& waits);

}  // namespace encore::detail
