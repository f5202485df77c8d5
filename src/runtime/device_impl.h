#pragma once

// The device behind encore::Device handles: options, backend, kernel registry, commit order.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "encore/device.h"

#include "backends/backend.h"
#include "core/allocation.h"
#include "core/command_list_pool.h"
#include "core/submission_state.h"
#include "profile/profiler.h"

namespace encore::detail {

class DeviceImpl {
 public:
  static std::shared_ptr<DeviceImpl> open(const DeviceOptions& options);
  /// Waits for all submitted work (the backend drains), writes the trace when asked for
  /// (options.trace_path), then releases the backend. Never throws: a trace that cannot be
  /// written is reported on stderr.
  ~DeviceImpl();
  DeviceImpl(const DeviceImpl&) = delete;
  DeviceImpl& operator=(const DeviceImpl&) = delete;

  /// Gives the submission its sequence number, resolves its fence waits and signal, and queues
  /// it, all under the commit lock so fence values complete in the order they were handed out.
  Submission enqueue(std::shared_ptr<SubmissionState> submission,
                     const std::shared_ptr<FenceState>& signal);

  /// Applies `pipeline` to `recording` (made from one of this device's command lists) and adds
  /// what it did to the counters.
  PassResult apply_passes(const PassPipeline& pipeline, const Recording& recording);

  /// Throws Error(WrongDevice) unless `fence` belongs to this device.
  void check_fence(const Fence& fence, const char* operation) const;

  /// Capacity hints for the next command buffer (the size of the last one).
  void remember_size(std::size_t nodes, std::size_t args) noexcept {
    expected_nodes_.store(nodes, std::memory_order_relaxed);
    expected_args_.store(args, std::memory_order_relaxed);
  }
  std::size_t expected_nodes() const noexcept {
    return expected_nodes_.load(std::memory_order_relaxed);
  }
  std::size_t expected_args() const noexcept {
    return expected_args_.load(std::memory_order_relaxed);
  }

  /// A snapshot of the profile (after the backend handed over what it holds).
  Profile profile();

  DeviceOptions options;
  std::shared_ptr<KernelRegistry> registry;
  std::shared_ptr<DeviceShared> shared;
  /// Null when profiling is off. Declared before the backend, which records into it.
  std::unique_ptr<Profiler> profiler;
  std::unique_ptr<Backend> backend;
  std::string fallback_reason;
  std::shared_ptr<CommandListPool> command_lists = std::make_shared<CommandListPool>();
  /// DeviceOptions::passes with default PassOptions.
  PassPipeline passes;

 private:
  DeviceImpl() = default;

  std::mutex commit_mutex_;
  std::atomic<std::size_t> expected_nodes_{0};
  std::atomic<std::size_t> expected_args_{0};
};

}  // namespace encore::detail
