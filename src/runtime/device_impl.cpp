#include "runtime/device_impl.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "encore/error.h"

#include "core/fence_state.h"

namespace encore::detail {

namespace {
std::atomic<std::uint32_t> g_next_device_id{1};
}  // namespace

std::shared_ptr<DeviceImpl> DeviceImpl::open(const DeviceOptions& options) {
  std::shared_ptr<DeviceImpl> d(new DeviceImpl());
  d->options = options;
  d->registry = options.registry ? options.registry : KernelRegistry::builtin();
  d->shared = std::make_shared<DeviceShared>();
  d->shared->device_id = g_next_device_id.fetch_add(1, std::memory_order_relaxed);
  d->passes = PassPipeline(options.passes);
  if (!options.trace_path.empty() && options.profile == ProfileMode::Off) {
    throw Error(ErrorCode::InvalidArgument,
                "trace_path '" + options.trace_path +
                    "' needs profiling: set DeviceOptions::profile to Submission or Dispatch");
  }
  if (options.profile != ProfileMode::Off) {
    d->profiler = std::make_unique<Profiler>(options.profile, d->shared->counters);
  }

  if (options.backend == BackendKind::Cuda || options.backend == BackendKind::Auto) {
    BackendOpenResult cuda = open_cuda_backend(options, *d->shared, d->profiler.get());
    if (cuda.backend) {
      d->backend = std::move(cuda.backend);
      return d;
    }
    if (options.backend == BackendKind::Cuda) {
      throw Error(ErrorCode::BackendUnavailable,
                  "the CUDA backend cannot be opened: " + cuda.unavailable_reason);
    }
    d->fallback_reason = std::move(cuda.unavailable_reason);
    // A fresh profiler: the failed attempt may have changed the mode in effect.
    if (d->profiler) {
      d->profiler = std::make_unique<Profiler>(options.profile, d->shared->counters);
    }
  }
  BackendOpenResult cpu = open_cpu_backend(options, *d->shared, d->profiler.get());
  if (!cpu.backend) {
    throw Error(ErrorCode::BackendUnavailable,
                "the CPU backend cannot be opened: " + cpu.unavailable_reason);
  }
  d->backend = std::move(cpu.backend);
  return d;
}

DeviceImpl::~DeviceImpl() {
  if (profiler && !options.trace_path.empty() && backend) {
    try {
      backend->wait_idle();
      profile().write_chrome_trace(options.trace_path);
    } catch (const std::exception& e) {
      // A destructor cannot throw; the user asked for the file, so say why it is missing.
      std::fprintf(stderr, "encore: the trace was not written: %s\n", e.what());
    }
  }
  backend.reset();
}

Profile DeviceImpl::profile() {
  if (!profiler) {
    Profile off;
    off.set_source(backend->name(), backend->kind(),
                   "profiling is off (DeviceOptions::profile, ENCORE_PROFILE)");
    return off;
  }
  backend->collect_profile();
  return profiler->snapshot(backend->name(), backend->kind());
}

PassResult DeviceImpl::apply_passes(const PassPipeline& pipeline, const Recording& recording) {
  PassResult result = pipeline.apply(recording);
  if (pipeline.empty()) return result;
  StatsCounters& c = shared->counters;
  const PassReport& r = result.report;
  StatsCounters::add(c.recordings_optimized, 1);
  StatsCounters::add(c.nodes_fused, r.nodes_fused());
  StatsCounters::add(c.nodes_moved, r.nodes_moved());
  StatsCounters::add(c.barriers_removed, r.barriers_removed());
  StatsCounters::add(c.edges_removed, r.edges_removed());
  return result;
}

void DeviceImpl::check_fence(const Fence& fence, const char* operation) const {
  if (!fence) throw Error(ErrorCode::InvalidArgument, std::string(operation) + " a null fence");
  if (fence.state()->device_id != shared->device_id) {
    throw Error(ErrorCode::WrongDevice, std::string(operation) + " a fence of device " +
                                            std::to_string(fence.state()->device_id) +
                                            " on device " + std::to_string(shared->device_id));
  }
}

Submission DeviceImpl::enqueue(std::shared_ptr<SubmissionState> s,
                               const std::shared_ptr<FenceState>& signal) {
  StatsCounters& c = shared->counters;
  std::lock_guard lock(commit_mutex_);
  s->sequence = shared->progress.next_sequence();
  for (const std::shared_ptr<FenceState>& fence : s->commands->waits) {
    s->waits.push_back({fence, fence->register_wait()});
    StatsCounters::add(c.fence_waits, 1);
  }
  if (signal) {
    s->signal = signal;
    s->signal_value = signal->reserve_signal();
    StatsCounters::add(c.fence_signals, 1);
  }
  Submission handle(s);
  backend->submit(std::move(s));
  return handle;
}

}  // namespace encore::detail
