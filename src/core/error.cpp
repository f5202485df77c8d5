#include "encore/error.h"

#include <utility>

namespace encore {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument:
      return "InvalidArgument";
    case ErrorCode::OutOfRange:
      return "OutOfRange";
    case ErrorCode::UnknownKernel:
      return "UnknownKernel";
    case ErrorCode::SignatureMismatch:
      return "SignatureMismatch";
    case ErrorCode::InvalidLaunch:
      return "InvalidLaunch";
    case ErrorCode::WrongDevice:
      return "WrongDevice";
    case ErrorCode::InvalidState:
      return "InvalidState";
    case ErrorCode::BackendUnavailable:
      return "BackendUnavailable";
    case ErrorCode::OutOfMemory:
      return "OutOfMemory";
    case ErrorCode::KernelFailed:
      return "KernelFailed";
    case ErrorCode::UndeclaredWrite:
      return "UndeclaredWrite";
    case ErrorCode::DependencyFailed:
      return "DependencyFailed";
    case ErrorCode::DeviceLost:
      return "DeviceLost";
    case ErrorCode::Internal:
      return "Internal";
    case ErrorCode::IoError:
      return "IoError";
  }
  return "Unknown";
}

Error::Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {
  render();
}

Error& Error::add_context(std::string frame) {
  context_.push_back(std::move(frame));
  render();
  return *this;
}

void Error::render() {
  what_.clear();
  what_ += to_string(code_);
  what_ += ": ";
  what_ += message_;
  if (context_.empty()) return;
  what_ += " [";
  for (std::size_t i = 0; i < context_.size(); ++i) {
    if (i != 0) what_ += ", ";
    what_ += context_[i];
  }
  what_ += ']';
}

}  // namespace encore
