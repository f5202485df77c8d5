#include "encore/submission.h"

#include "core/submission_state.h"

namespace encore {

std::string_view to_string(SubmissionStatus status) noexcept {
  switch (status) {
    case SubmissionStatus::Committed:
      return "committed";
    case SubmissionStatus::Completed:
      return "completed";
    case SubmissionStatus::Failed:
      return "failed";
  }
  return "?";
}

namespace {
const detail::SubmissionState& checked(const std::shared_ptr<detail::SubmissionState>& s) {
  if (!s) throw Error(ErrorCode::InvalidState, "use of a null Submission");
  return *s;
}
}  // namespace

SubmissionStatus Submission::status() const {
  const detail::SubmissionState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.status;
}

void Submission::wait() const {
  const detail::SubmissionState& s = checked(state_);
  detail::StatsCounters::add(s.device->counters.syncs, 1);
  s.wait_done();
  std::lock_guard lock(s.mutex);
  if (s.error) throw *s.error;
}

bool Submission::wait_for(std::chrono::nanoseconds timeout) const {
  const detail::SubmissionState& s = checked(state_);
  detail::StatsCounters::add(s.device->counters.syncs, 1);
  return s.wait_done_for(timeout);
}

std::optional<Error> Submission::error() const {
  const detail::SubmissionState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.error;
}

std::chrono::nanoseconds Submission::time() const {
  const detail::SubmissionState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.time;
}

std::string_view Submission::label() const { return checked(state_).label; }
std::uint64_t Submission::sequence() const { return checked(state_).sequence; }

}  // namespace encore
