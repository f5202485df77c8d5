#pragma once

/// \file
/// Fences order command buffers without a host sync: a commit signals the next value of a fence
/// when it completes; a later command buffer that waits on the fence starts only after that.
/// (Seed counterpart: EncoderSession's shared event, signal(N+1) / wait(N).)

#include <cstdint>
#include <memory>

namespace encore {

namespace detail {
struct FenceState;
}  // namespace detail

/// A monotonic counter shared between command buffers. Copies share the counter. Thread-safe.
class Fence {
 public:
  Fence() = default;

  explicit operator bool() const noexcept { return state_ != nullptr; }

  /// Number of signals committed so far (the value the next wait targets).
  std::uint64_t signaled_value() const;
  /// Number of signals whose command buffer has finished (completed or failed).
  std::uint64_t completed_value() const;
  /// Number of command buffers that waited on this fence, and the last value one waited for.
  std::uint64_t wait_count() const;
  std::uint64_t last_wait_value() const;

  /// Blocks the calling thread until `value` has completed. Throws Error(DependencyFailed) if
  /// the command buffer that signals `value` failed, Error(InvalidArgument) if `value` has not
  /// been committed (it would never complete).
  void host_wait(std::uint64_t value) const;

  /// Internal.
  explicit Fence(std::shared_ptr<detail::FenceState> state) noexcept : state_(std::move(state)) {}
  const std::shared_ptr<detail::FenceState>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::FenceState> state_;
};

}  // namespace encore
