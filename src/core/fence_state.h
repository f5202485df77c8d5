#pragma once

// The counter behind encore::Fence. Values are signalled by commits of the owning device, which
// complete in commit order, so `completed` only grows.

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace encore::detail {

struct FenceState {
  explicit FenceState(std::uint32_t owner) : device_id(owner) {}

  const std::uint32_t device_id;

  /// Reserves the next value for a commit that will signal it.
  std::uint64_t reserve_signal() {
    std::lock_guard lock(mutex);
    return ++signaled;
  }
  /// Registers a command buffer that waits; returns the value it must wait for.
  std::uint64_t register_wait() {
    std::lock_guard lock(mutex);
    ++waits;
    last_wait = signaled;
    return signaled;
  }
  /// Marks `value` finished; `failed` when its command buffer failed.
  void complete(std::uint64_t value, bool failed_signal) {
    {
      std::lock_guard lock(mutex);
      completed = std::max(completed, value);
      if (failed_signal) failed.push_back(value);
    }
    cv.notify_all();
  }
  /// Blocks until `value` completed. Returns false if the command buffer that signals `value`
  /// failed.
  bool wait(std::uint64_t value) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return completed >= value; });
    return std::find(failed.begin(), failed.end(), value) == failed.end();
  }

  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t signaled = 0;
  std::uint64_t completed = 0;
  std::uint64_t waits = 0;
  std::uint64_t last_wait = 0;
  std::vector<std::uint64_t> failed;
};

}  // namespace encore::detail
