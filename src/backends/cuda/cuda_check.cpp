#include "backends/cuda/cuda_check.h"

namespace encore::detail {

bool is_sticky(cudaError_t status) noexcept {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorUnknown:
      return true;
    default:
      return false;
  }
}

std::string describe(cudaError_t status) {
  std::string out = cudaGetErrorName(status);
  out += " (";
  out += cudaGetErrorString(status);
  out += ')';
  return out;
}

Error cuda_error(cudaError_t status, const char* call, ErrorCode code) {
  if (is_sticky(status)) {
    code = ErrorCode::DeviceLost;
  } else if (status == cudaErrorMemoryAllocation) {
    code = ErrorCode::OutOfMemory;
  }
  return Error(code, std::string(call) + " failed: " + describe(status));
}

CurrentDevice::CurrentDevice(int ordinal) {
  int current = -1;
  ENCORE_CUDA_CHECK(cudaGetDevice(&current));
  if (current == ordinal) return;
  ENCORE_CUDA_CHECK(cudaSetDevice(ordinal));
  previous_ = current;
}

CurrentDevice::~CurrentDevice() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

}  // namespace encore::detail
