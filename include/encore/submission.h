#pragma once

/// \file
/// A committed command buffer: wait for it, ask its status, error and execution time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "encore/error.h"

namespace encore {

namespace detail {
struct SubmissionState;
}  // namespace detail

/// Lifecycle of a submitted command buffer. (The encoder that built it had its own Open state.)
enum class SubmissionStatus : std::uint8_t {
  Committed,  ///< queued or running
  Completed,  ///< finished without error
  Failed,     ///< finished with an error; error() says what
};

std::string_view to_string(SubmissionStatus status) noexcept;

/// Handle of a committed command buffer; copies share it. Thread-safe.
class Submission {
 public:
  Submission() = default;

  explicit operator bool() const noexcept { return state_ != nullptr; }

  /// Current status, without blocking.
  SubmissionStatus status() const;
  /// Blocks until the command buffer finished. Throws its Error if it failed (on every call).
  void wait() const;
  /// Blocks at most `timeout`; true when finished (it does not throw on failure).
  bool wait_for(std::chrono::nanoseconds timeout) const;
  /// The failure, once status() is Failed.
  std::optional<Error> error() const;
  /// Execution time on the device (first dispatch start to last dispatch end); zero until done.
  std::chrono::nanoseconds time() const;
  /// The command buffer label (may be empty).
  std::string_view label() const;
  /// Position in the device's commit order (1 for the first commit).
  std::uint64_t sequence() const;

  /// Internal.
  explicit Submission(std::shared_ptr<detail::SubmissionState> state) noexcept
      : state_(std::move(state)) {}

 private:
  std::shared_ptr<detail::SubmissionState> state_;
};

}  // namespace encore
