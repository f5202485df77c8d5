#pragma once

// Move-only owners of CUDA handles with noexcept destructors. Destruction errors cannot be
// reported from a destructor and are ignored (a lost context makes every destroy fail).

#include <cuda_runtime_api.h>
#include <utility>

namespace encore::detail {

template <class Handle, cudaError_t (*Destroy)(Handle)>
class CudaHandle {
 public:
  CudaHandle() = default;
  explicit CudaHandle(Handle h) noexcept : handle_(h) {}
  CudaHandle(CudaHandle&& other) noexcept : handle_(std::exchange(other.handle_, Handle{})) {}
  CudaHandle& operator=(CudaHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, Handle{});
    }
    return *this;
  }
  CudaHandle(const CudaHandle&) = delete;
  CudaHandle& operator=(const CudaHandle&) = delete;
  ~CudaHandle() { reset(); }

  Handle get() const noexcept { return handle_; }
  /// Gives up ownership (the caller destroys the handle).
  Handle release() noexcept { return std::exchange(handle_, Handle{}); }
  explicit operator bool() const noexcept { return handle_ != Handle{}; }
  void reset() noexcept {
    if (handle_ != Handle{}) (void)Destroy(handle_);
    handle_ = Handle{};
  }

 private:
  Handle handle_{};
};

using Stream = CudaHandle<cudaStream_t, cudaStreamDestroy>;
using Event = CudaHandle<cudaEvent_t, cudaEventDestroy>;
using Graph = CudaHandle<cudaGraph_t, cudaGraphDestroy>;
using GraphExec = CudaHandle<cudaGraphExec_t, cudaGraphExecDestroy>;

/// A non-blocking stream (does not synchronise with the legacy default stream).
Stream make_stream();
/// An event; `timing` false makes it cheaper (ordering only).
Event make_event(bool timing);

}  // namespace encore::detail
