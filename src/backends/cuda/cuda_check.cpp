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

}  // namespace encore::detail
