#pragma once

// The one interface between the backend-neutral front end (encoder, recordings, device) and a
// backend. The front end has validated everything a backend receives; a backend only executes.

#include <memory>
#include <string>

#include "encore/device.h"
#include "encore/kernel.h"
#include "encore/options.h"

#include "core/allocation.h"
#include "core/submission_state.h"
#include "profile/profiler.h"

namespace encore::detail {

class Backend {
 public:
  virtual ~Backend() = default;  // finishes every submitted command buffer first

  virtual BackendKind kind() const noexcept = 0;
  virtual std::string name() const = 0;
  virtual const DeviceLimits& limits() const noexcept = 0;
  /// True when `def` has an implementation this backend can run.
  virtual bool implements(const KernelDef& def) const noexcept = 0;
  /// Why `def`'s implementation does not match its declared parameters (empty when it does, or
  /// when the backend cannot tell). Called once when a device resolves the kernel.
  virtual std::string check_signature(const KernelDef& def) const = 0;
  /// Queues a submission. Submissions run in the order given; each one's fence waits are
  /// honoured before it starts, and SubmissionState::complete() is called exactly once. Never
  /// throws: a submission that cannot run completes with its error.
  virtual void submit(std::shared_ptr<SubmissionState> submission) noexcept = 0;
  /// Blocks until every queued submission has completed.
  virtual void wait_idle() = 0;

  /// Profiling: hands the profiler every timing the backend holds for finished work (CUDA:
  /// flushes CUPTI's buffers). Never blocks on running work. Default: nothing is held back.
  virtual void collect_profile() {}
  /// Profiling: the profiler was reset; drop held timings and restart any clock of its own.
  virtual void reset_profile() {}
};

/// A backend, or why it cannot be opened. Opening installs the backend's memory resource in
/// `shared`. `profiler` is null when profiling is off; otherwise the backend records every
/// submission in it (and every dispatch, in per-dispatch mode, or it downgrades the profiler's
/// mode while opening and says why). The profiler outlives the backend.
struct BackendOpenResult {
  std::unique_ptr<Backend> backend;
  std::string unavailable_reason;
};

BackendOpenResult open_cpu_backend(const DeviceOptions& options, DeviceShared& shared,
                                   Profiler* profiler);
BackendOpenResult open_cuda_backend(const DeviceOptions& options, DeviceShared& shared,
                                    Profiler* profiler);

}  // namespace encore::detail
