#pragma once

/// \file
/// A device: one backend instance with its allocator, kernels, queue and counters.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "encore/buffer.h"
#include "encore/encoder.h"
#include "encore/fence.h"
#include "encore/kernel.h"
#include "encore/options.h"
#include "encore/passes.h"
#include "encore/profile.h"
#include "encore/recording.h"
#include "encore/stats.h"
#include "encore/submission.h"

namespace encore {

namespace detail {
class DeviceImpl;
}  // namespace detail

/// Hard limits a dispatch is checked against before anything reaches the backend.
struct DeviceLimits {
  std::uint32_t max_threads_per_block = 1024;
  Dim3 max_block{1024, 1024, 64};
  Dim3 max_grid{2147483647U, 65535U, 65535U};
  std::uint32_t max_shared_bytes = 48 * 1024;
  /// Processors that run blocks at once: streaming multiprocessors (CUDA) or worker threads
  /// (CPU). A grid-stride kernel launches a small multiple of this many blocks.
  std::uint32_t multiprocessors = 1;
};

/// Handle of a device; copies share it. Thread-safe: several threads may allocate, encode and
/// commit at once; commits enter the device queue in the order they happen. The last handle to
/// go waits for all submitted work before releasing the backend.
class Device {
 public:
  /// Opens a device configured from the environment (options_from_env()).
  static Device open();
  /// Opens a device with exactly these options. With BackendKind::Auto, falls back to the CPU
  /// backend when CUDA is not built or not usable, and fallback_reason() says why. Throws
  /// Error(BackendUnavailable) when the asked backend cannot be opened.
  static Device open(const DeviceOptions& options);

  BackendKind backend() const noexcept;
  /// "cpu (8 threads)", "NVIDIA H100 80GB HBM3 (sm_90)".
  std::string name() const;
  /// Why Auto did not pick CUDA; empty when it did or CPU was asked for.
  std::string_view fallback_reason() const noexcept;
  const DeviceOptions& options() const noexcept;
  const DeviceLimits& limits() const noexcept;
  /// Process-unique device id.
  std::uint32_t id() const noexcept;

  /// Allocates `bytes` (zero-filled). Throws InvalidArgument for 0 bytes, OutOfMemory on failure.
  Buffer alloc(std::uint64_t bytes, std::string_view label = {});
  /// Resolves a kernel by name. Throws Error(UnknownKernel) when no kernel has that name or it
  /// has no implementation for this backend.
  Kernel kernel(std::string_view name) const;
  /// A fresh encoder (one command buffer).
  Encoder encoder(const EncoderOptions& options = {});
  /// Submits a recording (a replay). Throws WrongDevice for another device's recording.
  Submission submit(const Recording& recording, std::string_view label = {},
                    const CommitOptions& options = {});
  /// Runs `pipeline` on a recording of this device and counts what it did in stats() (see
  /// PassPipeline::apply for errors). Submit the result for an optimised replay; `recording`
  /// itself is unchanged. Throws WrongDevice for another device's recording.
  PassResult optimize(const Recording& recording, const PassPipeline& pipeline);
  /// The pipeline encoders that choose none use (DeviceOptions::passes).
  const PassPipeline& passes() const noexcept;
  /// A new fence owned by this device.
  Fence create_fence();
  /// Blocks until every committed submission has finished.
  void wait_idle();

  Stats stats() const;
  /// Zeroes every counter except the gauges of what is alive now (buffers_live, bytes_live,
  /// graph_cache_entries).
  void reset_stats();

  /// The profiling mode in effect: options().profile, or Submission where Dispatch was asked for
  /// and the backend cannot time dispatches (profile_note() says why).
  ProfileMode profile_mode() const noexcept;
  /// Why the mode in effect differs from the one asked for; empty when it does not.
  std::string_view profile_note() const noexcept;
  /// What was profiled since open or reset_profile(): every submission that has finished, with
  /// its dispatches in Dispatch mode. Does not wait for running work (call wait_idle() first to
  /// include it). With profiling off, an empty Profile whose note says so. Thread-safe.
  Profile profile() const;
  /// Drops the profile's records and restarts its clock. Records of work still running may be
  /// lost. Replay numbers keep counting.
  void reset_profile();

  /// Internal.
  explicit Device(std::shared_ptr<detail::DeviceImpl> impl) noexcept : impl_(std::move(impl)) {}
  detail::DeviceImpl& impl() const noexcept { return *impl_; }

 private:
  std::shared_ptr<detail::DeviceImpl> impl_;
};

}  // namespace encore
