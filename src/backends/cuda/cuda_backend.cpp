// The CUDA backend: device memory from the stream-ordered pool, every submission launched on the
// device queue stream as a cached CUDA graph (default) or kernel by kernel (stream path), and a
// completion thread that observes each launch's end event and completes the submission.
//
// Collectives (cuda_collectives.h) are NCCL calls: child-graph nodes on the graph path, issued
// on their stream on the stream path; submissions with collectives are watched while they run.
//
// Launching happens on the committing thread, inside the device's commit lock, so submissions
// reach the queue in commit order. Fences signalled by this device need no wait (its own queue
// orders them); fences of other devices are waited for on the host before the launch.

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>
#define XXH_INLINE_ALL
#include <atomic>
#include <memory>
#include <mutex>
#include <nvtx3/nvToolsExt.h>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <xxhash.h>

#include "backends/backend.h"
#include "backends/cuda/completion_queue.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_collectives.h"
#include "backends/cuda/cuda_memory.h"
#include "backends/cuda/cuda_profiling.h"
#include "backends/cuda/graph_builder.h"
#include "backends/cuda/graph_cache.h"
#include "backends/cuda/kernel_params.h"
#include "backends/cuda/kernel_shared_memory.h"
#include "backends/cuda/stream_launcher.h"
#include "core/collective_params.h"
#include "profile/naming.h"

namespace encore::detail {

namespace {

constexpr std::size_t kLanes = 4;

DeviceLimits limits_of(const cudaDeviceProp& p) {
  DeviceLimits l;
  l.max_threads_per_block = static_cast<std::uint32_t>(p.maxThreadsPerBlock);
  l.max_block = {static_cast<std::uint32_t>(p.maxThreadsDim[0]),
                 static_cast<std::uint32_t>(p.maxThreadsDim[1]),
                 static_cast<std::uint32_t>(p.maxThreadsDim[2])};
  l.max_grid = {static_cast<std::uint32_t>(p.maxGridSize[0]),
                static_cast<std::uint32_t>(p.maxGridSize[1]),
                static_cast<std::uint32_t>(p.maxGridSize[2])};
  // Dynamic shared memory beyond 48 KB is opted into per kernel at launch.
  l.max_shared_bytes = static_cast<std::uint32_t>(p.sharedMemPerBlockOptin);
  l.multiprocessors = static_cast<std::uint32_t>(p.multiProcessorCount);
  return l;
}

// cuFuncGetParamInfo through the runtime's entry-point query: the library never links libcuda,
// so it loads and runs on machines without a driver.
Error dependency_failed(std::uint64_t value) {
  return Error(ErrorCode::DependencyFailed,
               "the command buffer that signals fence value " + std::to_string(value) + " failed");
}

PFN_cuFuncGetParamInfo_v12040 load_param_info() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found{};
  if (cudaGetDriverEntryPointByVersion("cuFuncGetParamInfo", &fn, 12040, cudaEnableDefault,
                                       &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess) {
    return nullptr;
  }
  return reinterpret_cast<PFN_cuFuncGetParamInfo_v12040>(fn);
}

// The L2 persisting window of a command buffer's hot views (Encoder::keep_hot).
struct HotWindow {
  cudaAccessPolicyWindow window{};
  explicit operator bool() const { return window.num_bytes != 0; }
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const DeviceOptions& options, DeviceShared& shared, CudaMemory& memory,
              const cudaDeviceProp& props, Profiler* profiler)
      : options_(options),
        shared_(shared),
        memory_(memory),
        name_(std::string(props.name) + " (sm_" + std::to_string(props.major) +
              std::to_string(props.minor) + ")"),
        limits_(limits_of(props)),
        param_info_(load_param_info()),
        max_window_(static_cast<std::size_t>(props.accessPolicyMaxWindowSize)),
        persisting_max_(static_cast<std::size_t>(props.persistingL2CacheMaxSize)),
        cache_(options.graph_cache_capacity == 0 ? 1 : options.graph_cache_capacity),
        streams_(kLanes),
        shared_memory_(static_cast<std::uint32_t>(props.sharedMemPerMultiprocessor),
                       static_cast<std::uint32_t>(props.reservedSharedMemPerBlock)),
        profiling_(profiler != nullptr ? std::make_unique<CudaProfiling>(options, *profiler)
                                       : nullptr),
        completions_(
            memory.ordinal(), [this](cudaError_t e) { mark_lost(e); }, profiler) {}

  ~CudaBackend() override {
    // Members are destroyed in reverse order: the completion queue drains first. The L2
    // set-aside is device-wide; give it back.
    completions_.wait_idle();
    if (persisting_limit_ == 0) return;
    try {
      const CurrentDevice scope(memory_.ordinal());
      (void)cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, 0);
    } catch (const Error&) {
      // A lost context: the limit went with it.
    }
  }

  BackendKind kind() const noexcept override { return BackendKind::Cuda; }
  std::string name() const override { return name_; }
  const DeviceLimits& limits() const noexcept override { return limits_; }
  bool implements(const KernelDef& def) const noexcept override {
    return def.cuda != nullptr || (def.op == OpKind::Collective && CudaCollectives::built());
  }
  std::string check_signature(const KernelDef& def) const override;

  void submit(std::shared_ptr<SubmissionState> s) noexcept override {
    try {
      launch(s);
    } catch (Error& e) {
      if (e.code() == ErrorCode::DeviceLost) mark_lost_message(e.message());
      if (!s->label.empty()) e.add_context("command buffer '" + s->label + "'");
      record_failure(*s);
      s->complete(std::move(e), {});
    } catch (const std::exception& e) {
      record_failure(*s);
      s->complete(Error(ErrorCode::Internal, std::string("launch failed: ") + e.what()), {});
    }
  }

  void wait_idle() override { completions_.wait_idle(); }

  void collect_profile() override {
    if (profiling_) profiling_->collect();
  }
  void reset_profile() override {
    if (profiling_) profiling_->reset();
  }

 private:
  void launch(const std::shared_ptr<SubmissionState>& s);
  /// The executable for `list` with `slots`, from the cache (patched) or instantiated.
  /// `keep_alive`: what a new executable's captured work needs alive (its collectives' groups).
  GraphEntry& prepare_graph(const CommandList& list, std::span<const std::byte> slots,
                            const HotWindow& hot, const std::shared_ptr<const void>& keep_alive);
  void launch_graph(const SubmissionState& s, const HotWindow& hot,
                    const std::shared_ptr<const void>& keep_alive);
  void launch_streams(const SubmissionState& s, const HotWindow& hot);
  void record_failure(const SubmissionState& s) noexcept {
    if (!profiling_) return;
    try {
      profiling_->profiler().add_submission(s, 0, 0, 0, true);
    } catch (const std::exception&) {
      // Only the failed submission's record is lost.
    }
  }
  HotWindow hot_window(const CommandList& list);
  void set_stream_window(const HotWindow& hot);
  /// Orders the launch after the fence values `s` waits for: on this queue for events of other
  /// CUDA devices, on the host for other kinds of devices.
  void order_after_fences(const SubmissionState& s, cudaStream_t queue);
  /// Attaches an event recorded after the work to the fence value `s` signals, for other CUDA
  /// devices to wait on.
  void attach_signal(const SubmissionState& s, cudaStream_t queue);

  void mark_lost(cudaError_t status) { mark_lost_message(describe(status)); }
  void mark_lost_message(const std::string& why) {
    std::lock_guard lock(lost_mutex_);
    if (!lost_) lost_why_ = why;
    lost_.store(true, std::memory_order_release);
  }

  DeviceOptions options_;
  DeviceShared& shared_;
  CudaMemory& memory_;
  std::string name_;
  DeviceLimits limits_;
  PFN_cuFuncGetParamInfo_v12040 param_info_;
  std::size_t max_window_;
  std::size_t persisting_max_;
  std::size_t persisting_limit_ = 0;  // the device's persisting L2 set-aside, as we set it

  // Used only by the committing thread (submit runs under the device's commit lock).
  GraphCache cache_;
  PackedParams params_;
  std::vector<std::uint64_t> structure_;
  StreamLauncher streams_;
  CudaCollectives collectives_;
  KernelSharedMemory shared_memory_;

  mutable std::mutex signature_mutex_;
  mutable std::unordered_map<const KernelDef*, std::string> signatures_;

  std::atomic<bool> lost_{false};
  std::mutex lost_mutex_;
  std::string lost_why_;

  std::unique_ptr<CudaProfiling> profiling_;  // null when profiling is off
  CompletionQueue completions_;               // last: destroyed first, after the work it watches
};

std::string CudaBackend::check_signature(const KernelDef& def) const {
  if (def.cuda == nullptr) return {};  // a collective: an NCCL call, not a kernel of ours
  std::lock_guard lock(signature_mutex_);
  if (auto it = signatures_.find(&def); it != signatures_.end()) return it->second;
  std::string problem;
  cudaFunction_t fn = nullptr;
  if (const cudaError_t status = cudaGetFuncBySymbol(&fn, def.cuda); status != cudaSuccess) {
    // A lost context fails every call: say so rather than blame the kernel (and do not cache).
    if (is_sticky(status)) throw cuda_error(status, "cudaGetFuncBySymbol");
    (void)cudaGetLastError();
    problem = "its CUDA function is not a kernel of this program (" + describe(status) + ")";
  } else if (param_info_ != nullptr) {
    const auto cu = reinterpret_cast<CUfunction>(fn);
    std::size_t count = 0;
    for (;; ++count) {
      std::size_t offset = 0;
      std::size_t size = 0;
      if (param_info_(cu, count, &offset, &size) != CUDA_SUCCESS) break;
      if (count >= def.params.size()) continue;  // counted, reported below
      const Param& p = def.params[count];
      const std::size_t expected = p.kind == Param::Kind::Buffer ? sizeof(void*) : p.value_size;
      if (size != expected && problem.empty()) {
        problem = "param " + std::to_string(count) + " ('" + p.name + "') is declared as " +
                  std::to_string(expected) + " bytes, but the CUDA kernel takes " +
                  std::to_string(size);
      }
    }
    if (problem.empty() && count != def.params.size()) {
      problem = "declared with " + std::to_string(def.params.size()) +
                " params, but the CUDA kernel takes " + std::to_string(count);
    }
  }
  signatures_.emplace(&def, problem);
  return problem;
}

void CudaBackend::order_after_fences(const SubmissionState& s, cudaStream_t queue) {
  for (const FenceWait& w : s.waits) {
    // Values this device signals are ordered by its own queue; failures are checked when the
    // submission completes.
    if (w.fence->device_id == shared_.device_id) continue;
    const FenceState::DeviceWait how = w.fence->device_wait(w.value, BackendKind::Cuda);
    if (how.completed) {
      if (w.fence->value_failed(w.value)) throw dependency_failed(w.value);
    } else if (how.handle) {
      // Signalled by another CUDA device: wait for its event on this queue, not on the host.
      ENCORE_CUDA_CHECK(cudaStreamWaitEvent(queue, static_cast<cudaEvent_t>(how.handle.get()), 0));
    } else if (!w.fence->wait(w.value)) {  // signalled by another kind of device
      throw dependency_failed(w.value);
    }
  }
}

void CudaBackend::attach_signal(const SubmissionState& s, cudaStream_t queue) {
  if (!s.signal) return;
  Event done = make_event(false);
  ENCORE_CUDA_CHECK(cudaEventRecord(done.get(), queue));
  cudaEvent_t raw = done.get();
  done.release();
  s.signal->attach(s.signal_value, BackendKind::Cuda, std::shared_ptr<void>(raw, [](void* e) {
                     (void)cudaEventDestroy(static_cast<cudaEvent_t>(e));
                   }));
}

HotWindow CudaBackend::hot_window(const CommandList& list) {
  HotWindow hot;
  if (list.hot.empty() || max_window_ == 0 || persisting_max_ == 0) return hot;
  std::uintptr_t lo = UINTPTR_MAX;
  std::uintptr_t hi = 0;
  for (const CommandList::HotRange& h : list.hot) {
    const auto base = reinterpret_cast<std::uintptr_t>(list.resources[h.resource]->address);
    lo = std::min(lo, base + h.bytes.begin);
    hi = std::max(hi, base + h.bytes.end);
  }
  const std::size_t bytes = std::min<std::size_t>(hi - lo, max_window_);
  const std::size_t set_aside = std::min(bytes, persisting_max_);
  if (set_aside > persisting_limit_) {
    ENCORE_CUDA_CHECK(cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, set_aside));
    persisting_limit_ = set_aside;
  }
  hot.window.base_ptr = reinterpret_cast<void*>(lo);
  hot.window.num_bytes = bytes;
  hot.window.hitRatio =
      std::min(1.0F, static_cast<float>(persisting_limit_) / static_cast<float>(bytes));
  hot.window.hitProp = cudaAccessPropertyPersisting;
  hot.window.missProp = cudaAccessPropertyStreaming;
  return hot;
}

void CudaBackend::set_stream_window(const HotWindow& hot) {
  cudaStreamAttrValue value{};
  value.accessPolicyWindow = hot.window;  // num_bytes 0 turns the window off
  ENCORE_CUDA_CHECK(
      cudaStreamSetAttribute(memory_.queue(), cudaStreamAttributeAccessPolicyWindow, &value));
  streams_.set_window(value);
}

GraphEntry& CudaBackend::prepare_graph(const CommandList& list, std::span<const std::byte> slots,
                                       const HotWindow& hot,
                                       const std::shared_ptr<const void>& keep_alive) {
  StatsCounters& c = shared_.counters;
  // A replay of the very same recording with the same slot values: nothing to check or patch.
  if (GraphEntry* e = cache_.find_list(list.id);
      e != nullptr &&
      std::equal(slots.begin(), slots.end(), e->last_slots.begin(), e->last_slots.end())) {
    StatsCounters::add(c.graph_cache_hits, 1);
    return *e;
  }
  params_.pack(list, slots);
  describe_structure(list, options_.programmatic_launch, structure_);
  // Kernel nodes may keep the carveout their kernels had when instantiated: once it rises
  // (kernel_shared_memory.h), executables made before are not reused.
  structure_.push_back(static_cast<std::uint64_t>(shared_memory_.carveout_percent()));
  if (hot) {  // the window is part of each kernel node, so of the executable
    structure_.push_back(reinterpret_cast<std::uintptr_t>(hot.window.base_ptr));
    structure_.push_back(hot.window.num_bytes);
    structure_.push_back(static_cast<std::uint64_t>(hot.window.hitRatio * 1e6F));
  }
  const std::uint64_t key =
      XXH3_64bits(structure_.data(), structure_.size() * sizeof(std::uint64_t));
  GraphEntry* entry = cache_.find(key, structure_);
  if (entry != nullptr) {
    // Patch the kernel nodes whose arguments changed since the executable's last launch.
    StatsCounters::add(c.graph_cache_hits, 1);
    std::uint64_t patched = 0;
    for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
      // A collective's arguments are part of the structure: they are equal.
      if (!is_kernel_dispatch(list.nodes[i])) continue;
      const auto now = params_.bytes(i);
      std::byte* before = entry->params.data() + entry->param_offsets[i];
      if (std::equal(now.begin(), now.end(), before)) continue;
      const cudaKernelNodeParams p = kernel_node_params(list, i, params_);
      const cudaError_t status =
          cudaGraphExecKernelNodeSetParams(entry->exec.get(), entry->nodes[i], &p);
      if (status != cudaSuccess) {
        throw cuda_error(status, "cudaGraphExecKernelNodeSetParams")
            .add_context(list.describe_node(i));
      }
      std::copy(now.begin(), now.end(), before);
      ++patched;
    }
    StatsCounters::add(c.graph_nodes_patched, patched);
  } else {
    auto fresh = std::make_unique<GraphEntry>();
    fresh->keep_alive = keep_alive;
    BuiltGraph built = build_graph(list, params_, options_.programmatic_launch, collectives_);
    if (hot) {
      cudaLaunchAttributeValue value{};
      value.accessPolicyWindow = hot.window;
      for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
        if (!is_kernel_dispatch(list.nodes[i])) continue;
        ENCORE_CUDA_CHECK(cudaGraphKernelNodeSetAttribute(
            built.nodes[i], cudaLaunchAttributeAccessPolicyWindow, &value));
      }
    }
    cudaGraphExec_t exec = nullptr;
    {
      // Per-dispatch profiling learns here which executable node each dispatch became.
      CloneCapture clones;
      std::optional<ScopedCloneCapture> capture;
      if (profiling_ && profiling_->per_dispatch()) capture.emplace(clones);
      ENCORE_CUDA_CHECK(cudaGraphInstantiateWithFlags(&exec, built.graph.get(), 0));
      fresh->exec = GraphExec(exec);
      if (capture) fresh->profile_nodes = profiling_->map_nodes(list, built.nodes, clones);
    }
    fresh->key = key;
    fresh->structure = structure_;
    fresh->graph = std::move(built.graph);
    fresh->nodes = std::move(built.nodes);
    fresh->params.assign(params_.all_bytes().begin(), params_.all_bytes().end());
    fresh->param_offsets.assign(params_.byte_offsets().begin(), params_.byte_offsets().end());
    auto [inserted, evicted] = cache_.insert(std::move(fresh));
    entry = inserted;
    StatsCounters::add(c.graph_instantiations, 1);
    StatsCounters::add(c.graph_cache_evictions, evicted);
    c.graph_cache_entries.store(cache_.size(), std::memory_order_relaxed);
  }
  cache_.note_list(*entry, list.id);
  entry->last_slots.assign(slots.begin(), slots.end());
  return *entry;
}

void CudaBackend::launch_graph(const SubmissionState& s, const HotWindow& hot,
                               const std::shared_ptr<const void>& keep_alive) {
  const CommandList& list = *s.commands;
  GraphEntry& entry = prepare_graph(list, s.slot_values, hot, keep_alive);
  std::optional<LaunchTag> tag;  // per-dispatch profiling: the launch's kernels are this one's
  if (profiling_ && profiling_->per_dispatch()) {
    const GraphProfileNodes& nodes = entry.profile_nodes;
    tag.emplace(profiling_->sink(), s.sequence,
                nodes.map ? nodes.map : std::make_shared<const GraphNodeMap>(),
                nodes.map ? nodes.kernels : list.dispatch_count, nodes.in_order);
  }
  ENCORE_CUDA_CHECK(cudaGraphLaunch(entry.exec.get(), memory_.queue()));
}

void CudaBackend::launch_streams(const SubmissionState& s, const HotWindow& hot) {
  const CommandList& list = *s.commands;
  params_.pack(list, s.slot_values);
  if (hot) set_stream_window(hot);
  std::optional<LaunchTag> tag;
  if (profiling_ && profiling_->per_dispatch()) {
    tag.emplace(profiling_->sink(), s.sequence, &profiling_->session());
  }
  streams_.launch(list, params_, collectives_, memory_.queue(),
                  options_.sync_each_dispatch ? ExecutionPath::SingleStream : list.path,
                  options_.sync_each_dispatch,
                  options_.programmatic_launch && !options_.sync_each_dispatch,
                  tag ? &*tag : nullptr);
  if (hot) set_stream_window(HotWindow{});
}

void CudaBackend::launch(const std::shared_ptr<SubmissionState>& s) {
  if (lost_.load(std::memory_order_acquire)) {
    std::lock_guard lock(lost_mutex_);
    throw Error(ErrorCode::DeviceLost, "the device was lost earlier: " + lost_why_);
  }
  const CommandList& list = *s->commands;
  // The same name as the submission's profile record.
  nvtxRangePushA(command_buffer_name(s->label.c_str()));
  struct PopRange {
    ~PopRange() { nvtxRangePop(); }
  } pop;
  const CurrentDevice scope(memory_.ordinal());
  shared_memory_.prepare(list);
  // Collectives: refused at once when their group failed; watched while they run.
  std::shared_ptr<InFlightWatch> watch = collectives_.prepare(list);
  Event start = completions_.take_event();
  Event end = completions_.take_event();
  cudaStream_t queue = memory_.queue();
  order_after_fences(*s, queue);
  const std::int64_t launch_ns = profiling_ ? profiling_->profiler().now_ns() : 0;
  ENCORE_CUDA_CHECK(cudaEventRecord(start.get(), queue));
  if (list.dispatch_count > 0) {
    const HotWindow hot = hot_window(list);
    if (options_.sync_each_dispatch || list.path != ExecutionPath::Graph) {
      launch_streams(*s, hot);
    } else {
      launch_graph(*s, hot, watch);
    }
  }
  attach_signal(*s, queue);
  ENCORE_CUDA_CHECK(cudaEventRecord(end.get(), queue));
  completions_.push(s, std::move(start), std::move(end), launch_ns, std::move(watch));
}

}  // namespace

BackendOpenResult open_cuda_backend(const DeviceOptions& options, DeviceShared& shared,
                                    Profiler* profiler) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return {nullptr, "no usable CUDA driver or device: " + describe(status)};
  }
  if (options.cuda_ordinal < 0 || options.cuda_ordinal >= count) {
    return {nullptr, "CUDA device " + std::to_string(options.cuda_ordinal) + " does not exist (" +
                         std::to_string(count) + " present)"};
  }
  try {
    const CurrentDevice scope(options.cuda_ordinal);  // what the backend sets up lives there
    cudaDeviceProp props{};
    ENCORE_CUDA_CHECK(cudaGetDeviceProperties(&props, options.cuda_ordinal));
    auto memory = std::make_unique<CudaMemory>(options.cuda_ordinal);
    CudaMemory& memory_ref = *memory;
    shared.memory = std::move(memory);
    return {std::make_unique<CudaBackend>(options, shared, memory_ref, props, profiler), {}};
  } catch (const Error& e) {
    shared.memory.reset();
    return {nullptr, e.message()};
  }
}

}  // namespace encore::detail
