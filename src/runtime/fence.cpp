#include "encore/fence.h"

#include <string>

#include "encore/error.h"

#include "core/fence_state.h"

namespace encore {

namespace {
detail::FenceState& checked(const std::shared_ptr<detail::FenceState>& s) {
  if (!s) throw Error(ErrorCode::InvalidState, "use of a null Fence");
  return *s;
}
}  // namespace

std::uint64_t Fence::signaled_value() const {
  detail::FenceState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.signaled;
}

std::uint64_t Fence::completed_value() const {
  detail::FenceState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.completed;
}

std::uint64_t Fence::wait_count() const {
  detail::FenceState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.waits;
}

std::uint64_t Fence::last_wait_value() const {
  detail::FenceState& s = checked(state_);
  std::lock_guard lock(s.mutex);
  return s.last_wait;
}

void Fence::host_wait(std::uint64_t value) const {
  detail::FenceState& s = checked(state_);
  if (value > signaled_value()) {
    throw Error(ErrorCode::InvalidArgument, "fence value " + std::to_string(value) +
                                                " was never committed (signalled so far: " +
                                                std::to_string(signaled_value()) + ")");
  }
  if (!s.wait(value)) {
    throw Error(ErrorCode::DependencyFailed,
                "the command buffer that signals fence value " + std::to_string(value) + " failed");
  }
}

}  // namespace encore
