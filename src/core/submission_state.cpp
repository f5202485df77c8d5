#include "core/submission_state.h"

#include <string>
#include <utility>

namespace encore::detail {

void SubmissionState::complete(std::optional<Error> failure,
                               std::chrono::nanoseconds elapsed) noexcept {
  const bool failed = failure.has_value();
  // Release the commands (and with them the retained buffers) before waking anyone, so a waiter
  // observes the buffers already released.
  std::shared_ptr<const CommandList> done = std::move(commands);
  done.reset();
  StatsCounters::add(
      failed ? device->counters.submissions_failed : device->counters.submissions_completed, 1);
  {
    std::lock_guard lock(mutex);
    error = std::move(failure);
    time = elapsed;
    status = failed ? SubmissionStatus::Failed : SubmissionStatus::Completed;
    // Under the lock, so whoever sees the fence value complete (host_wait, a waiting command
    // buffer) then sees this submission finished, and whoever sees it finished sees the value
    // complete. (Lock order: submission, then fence; fences never take a submission's lock.)
    if (signal) signal->complete(signal_value, failed);
  }
  device->progress.complete(sequence);
  cv.notify_all();
}

void SubmissionState::wait_done() const {
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return status != SubmissionStatus::Committed; });
}

bool SubmissionState::wait_done_for(std::chrono::nanoseconds timeout) const {
  std::unique_lock lock(mutex);
  return cv.wait_for(lock, timeout, [&] { return status != SubmissionStatus::Committed; });
}

std::optional<Error> wait_for_fences(const std::vector<FenceWait>& waits) {
  for (const FenceWait& w : waits) {
    if (!w.fence->wait(w.value)) {
      return Error(ErrorCode::DependencyFailed, "the command buffer that signals fence value " +
                                                    std::to_string(w.value) + " failed");
    }
  }
  return std::nullopt;
}

}  // namespace encore::detail
