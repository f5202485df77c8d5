#pragma once

// The counter behind encore::Fence. Values are signalled by commits of the owning device, which
// complete in commit order, so `completed` only grows.
//
// A backend may attach a device-side handle to a value it signals (the CUDA backend: an event
// recorded after the signalling work), so that another device of the same kind can wait for the
// value on its own queue instead of on the host.

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "encore/options.h"

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
  /// Marks `value` finished; `failed` when its command buffer failed. Device handles of
  /// completed values are released (nobody needs to wait for them any more).
  void complete(std::uint64_t value, bool failed_signal) {
    std::vector<DeviceSignal> done;
    {
      std::lock_guard lock(mutex);
      completed = std::max(completed, value);
      if (failed_signal) failed.push_back(value);
      auto keep = std::partition(device_signals.begin(), device_signals.end(),
                                 [&](const DeviceSignal& d) { return d.value > completed; });
      done.assign(std::make_move_iterator(keep), std::make_move_iterator(device_signals.end()));
      device_signals.erase(keep, device_signals.end());
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
  /// True when the command buffer that signals `value` has failed.
  bool value_failed(std::uint64_t value) {
    std::lock_guard lock(mutex);
    return std::find(failed.begin(), failed.end(), value) != failed.end();
  }

  /// Attaches a device-side handle to signalled `value` (kept until the value completes).
  void attach(std::uint64_t value, BackendKind kind, std::shared_ptr<void> handle) {
    std::lock_guard lock(mutex);
    if (value > completed) device_signals.push_back({value, kind, std::move(handle)});
  }

  /// How a device of `kind` can wait for `value`: not at all (it completed), on the device
  /// through the returned handle, or (null handle, not completed) on the host.
  struct DeviceWait {
    bool completed = false;
    std::shared_ptr<void> handle;
  };
  DeviceWait device_wait(std::uint64_t value, BackendKind kind) {
    std::lock_guard lock(mutex);
    if (completed >= value) return {true, nullptr};
    for (const DeviceSignal& d : device_signals) {
      if (d.value == value && d.kind == kind) return {false, d.handle};
    }
    return {};
  }

  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t signaled = 0;
  std::uint64_t completed = 0;
  std::uint64_t waits = 0;
  std::uint64_t last_wait = 0;
  std::vector<std::uint64_t> failed;

  struct DeviceSignal {
    std::uint64_t value = 0;
    BackendKind kind = BackendKind::Cpu;
    std::shared_ptr<void> handle;
  };
  std::vector<DeviceSignal> device_signals;
};

}  // namespace encore::detail
