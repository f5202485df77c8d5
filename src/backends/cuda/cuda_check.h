#pragma once

// Turning CUDA runtime errors into encore::Error. The message names the call that failed and the
// CUDA error, so a failure reads "cudaGraphInstantiateWithFlags(...) failed: cudaErrorInvalidValue
// (invalid argument)".

#include <cuda_runtime_api.h>
#include <string>

#include "encore/error.h"

namespace encore::detail {

/// True for errors that leave the CUDA context unusable (every later call fails the same way).
bool is_sticky(cudaError_t status) noexcept;

/// The Error for a failed CUDA call: DeviceLost when sticky, OutOfMemory for allocation failures,
/// `code` otherwise.
Error cuda_error(cudaError_t status, const char* call, ErrorCode code = ErrorCode::Internal);

/// "cudaErrorIllegalAddress (an illegal memory access was encountered)".
std::string describe(cudaError_t status);

/// Makes `ordinal` the calling thread's current device for the scope and restores the one
/// before. Every backend call from a caller's thread opens one: CUDA runtime calls act on the
/// current device (a copy on another device's stream fails with cudaErrorInvalidValue), and a
/// caller mixing encore with its own CUDA code keeps the device it had chosen.
class CurrentDevice {
 public:
  explicit CurrentDevice(int ordinal);
  ~CurrentDevice();
  CurrentDevice(const CurrentDevice&) = delete;
  CurrentDevice& operator=(const CurrentDevice&) = delete;

 private:
  int previous_ = -1;  ///< -1: nothing to restore
};

}  // namespace encore::detail

/// Throws encore::Error when `call` does not return cudaSuccess. For library code, never for
/// destructors (they use cudaError_t directly and ignore what they cannot report).
#define ENCORE_CUDA_CHECK(call)                                       \
  do {                                                                \
    const cudaError_t encore_cuda_status_ = (call);                   \
    if (encore_cuda_status_ != cudaSuccess) {                         \
      throw ::encore::detail::cuda_error(encore_cuda_status_, #call); \
    }                                                                 \
  } while (false)
