#pragma once

// Device memory for the CUDA backend: stream-ordered allocations from the device's default memory
// pool (kept cached, as a caching allocator would), zero-filled on the device queue stream.
//
// The memory resource owns the device queue stream: every allocation, copy, kernel and free is
// ordered on it (or forked from and joined back to it), so no allocation can be used before its
// zero-fill and no free can overtake work that was submitted before it. It lives as long as the
// last buffer (DeviceShared owns it), so buffers may outlive the backend.

#include <cstdint>
#include <span>

#include "backends/cuda/cuda_handles.h"
#include "core/allocation.h"

namespace encore::detail {

class CudaMemory final : public MemoryResource {
 public:
  /// Creates the queue stream on device `ordinal` and configures its memory pool.
  explicit CudaMemory(int ordinal);
  ~CudaMemory() override;

  void* allocate(std::uint64_t bytes) override;
  void deallocate(void* address, std::uint64_t bytes) noexcept override;
  void copy_in(void* address, std::uint64_t offset, std::span<const std::byte> src) override;
  void copy_out(const void* address, std::uint64_t offset, std::span<std::byte> dst) override;

  int ordinal() const noexcept { return ordinal_; }
  /// The device queue: submissions launch on it (or fork from it and join back).
  cudaStream_t queue() const noexcept { return queue_.get(); }

 private:
  int ordinal_;
  Stream queue_;
};

}  // namespace encore::detail
