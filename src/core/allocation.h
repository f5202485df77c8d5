#pragma once

// Device memory as the core sees it. An Allocation is what a Buffer shares; it keeps alive the
// DeviceShared block (memory resource, counters, queue progress), but not the device's queue or
// threads, so the last buffer can die anywhere (even on a backend thread) without joining it.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/stats_counters.h"

namespace encore::detail {

/// Raw memory of one backend.
class MemoryResource {
 public:
  virtual ~MemoryResource() = default;
  /// `bytes` of zero-filled memory. Throws Error(OutOfMemory).
  virtual void* allocate(std::uint64_t bytes) = 0;
  virtual void deallocate(void* address, std::uint64_t bytes) noexcept = 0;
  /// Blocking copies between host memory and [address + offset, ...).
  virtual void copy_in(void* address, std::uint64_t offset, std::span<const std::byte> src) = 0;
  virtual void copy_out(const void* address, std::uint64_t offset, std::span<std::byte> dst) = 0;
};

/// Commit order bookkeeping: host transfers wait until everything committed before them is done.
class QueueProgress {
 public:
  /// Next sequence number (1, 2, ...). Call under the device's commit lock.
  std::uint64_t next_sequence() noexcept { return ++committed_; }
  /// Marks `sequence` finished. Submissions finish in commit order.
  void complete(std::uint64_t sequence);
  /// Blocks until every sequence committed before this call has finished.
  void wait_for_committed();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> committed_{0};
  std::uint64_t completed_ = 0;
};

/// State shared by a device and everything that outlives its handle (buffers, submissions).
struct DeviceShared {
  std::uint32_t device_id = 0;
  std::unique_ptr<MemoryResource> memory;
  StatsCounters counters;
  QueueProgress progress;
};

/// One allocation. Created by Device::alloc, shared by Buffers, views, command lists.
struct Allocation : std::enable_shared_from_this<Allocation> {
  Allocation(std::shared_ptr<DeviceShared> device, std::uint64_t size, std::string label);
  ~Allocation();
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;

  std::shared_ptr<DeviceShared> device;
  std::uint32_t device_id = 0;  ///< copy of device->device_id, read on every dispatch
  void* address = nullptr;
  std::uint64_t size = 0;
  std::uint64_t id = 0;
  std::string label;

  /// "buf#7 'x'" for messages.
  std::string describe() const;
  /// Host pointer to byte `offset` (CPU backend only).
  std::byte* host_bytes(std::uint64_t offset = 0) const {
    return static_cast<std::byte*>(address) + offset;
  }
};

}  // namespace encore::detail
