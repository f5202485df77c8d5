#pragma once

/// \file
/// encore's one error type. Every failure the library reports is an `encore::Error` carrying a
/// documented `ErrorCode`, a message, and a context chain that grows as the error propagates
/// (kernel, arg index, dispatch label, command buffer label). The library never calls
/// `exit`/`abort` on user error.

#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace encore {

/// What went wrong. Values are stable; tools may print and match them.
enum class ErrorCode : int {
  /// A value passed to an API call is malformed (zero-length allocation, bad option string).
  InvalidArgument = 1,
  /// A view or a copy reaches outside its buffer.
  OutOfRange,
  /// No kernel of that name is registered, or it has no implementation for the backend.
  UnknownKernel,
  /// The args do not match the kernel's parameters (count, kind, access or value size).
  SignatureMismatch,
  /// Zero or oversized grid/block, or more shared memory than the device allows.
  InvalidLaunch,
  /// A buffer, kernel, fence or recording belongs to another device.
  WrongDevice,
  /// The call is illegal in the object's current state (commit twice, dispatch after commit,
  /// use of a discarded or moved-from encoder).
  InvalidState,
  /// The requested backend is not built or has no usable device.
  BackendUnavailable,
  /// An allocation failed.
  OutOfMemory,
  /// A kernel reported an error or faulted while it ran.
  KernelFailed,
  /// Validation mode: a dispatch changed bytes it did not declare as written.
  UndeclaredWrite,
  /// A submission waited on a fence whose signalling submission failed.
  DependencyFailed,
  /// The device is no longer usable; every later call reports this.
  DeviceLost,
  /// An internal invariant was violated (a bug in encore).
  Internal,
  /// A file could not be written or read (e.g. a trace path).
  IoError,
};

/// Stable name of a code, e.g. "SignatureMismatch".
std::string_view to_string(ErrorCode code) noexcept;

/// The exception thrown by every encore API on failure.
///
/// `what()` renders "message [context innermost first]". Copying is cheap enough for the error
/// path; errors are never on a hot path.
class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message);

  ErrorCode code() const noexcept { return code_; }
  /// The message without its context.
  const std::string& message() const noexcept { return message_; }
  /// Context frames, innermost first ("arg 2", "kernel 'add_f32'", "command buffer 'step'").
  const std::vector<std::string>& context() const noexcept { return context_; }

  /// Appends one context frame (outermost so far) and returns *this, for rethrowing.
  Error& add_context(std::string frame);

  const char* what() const noexcept override { return what_.c_str(); }

 private:
  void render();

  ErrorCode code_;
  std::string message_;
  std::vector<std::string> context_;
  std::string what_;
};

}  // namespace encore
