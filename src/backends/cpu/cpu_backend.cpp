// The CPU reference backend: host memory, one queue thread that runs submissions in commit
// order, and a thread pool that runs each submission's dependency graph.

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "encore/error.h"

#include "backends/backend.h"
#include "backends/cpu/graph_executor.h"
#include "backends/cpu/thread_pool.h"

namespace encore::detail {

namespace {

class HostMemory final : public MemoryResource {
 public:
  void* allocate(std::uint64_t bytes) override {
    // calloc: zero-filled (pages of large blocks are zeroed lazily by the OS), 16-byte aligned.
    void* p = std::calloc(1, static_cast<std::size_t>(bytes));
    if (p == nullptr) {
      throw Error(ErrorCode::OutOfMemory,
                  "host allocation of " + std::to_string(bytes) + " bytes failed");
    }
    return p;
  }
  void deallocate(void* address, std::uint64_t /*bytes*/) noexcept override { std::free(address); }
  void copy_in(void* address, std::uint64_t offset, std::span<const std::byte> src) override {
    if (!src.empty())
      std::memcpy(static_cast<std::byte*>(address) + offset, src.data(), src.size());
  }
  void copy_out(const void* address, std::uint64_t offset, std::span<std::byte> dst) override {
    if (!dst.empty()) {
      std::memcpy(dst.data(), static_cast<const std::byte*>(address) + offset, dst.size());
    }
  }
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const DeviceOptions& options, Profiler* profiler)
      : profiler_(profiler),
        pool_(options.cpu_threads),
        config_{pool_.size(), options.shuffle_seed, options.validate},
        queue_thread_([this] { queue_loop(); }) {
    limits_.multiprocessors = static_cast<std::uint32_t>(pool_.size());
  }

  ~CpuBackend() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    queue_thread_.join();  // the loop drains the queue before it stops
  }

  BackendKind kind() const noexcept override { return BackendKind::Cpu; }
  std::string name() const override {
    return "cpu (" + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread)" : " threads)");
  }
  const DeviceLimits& limits() const noexcept override { return limits_; }
  bool implements(const KernelDef& def) const noexcept override { return bool(def.cpu); }
  // A C++ callable has no signature to compare.
  std::string check_signature(const KernelDef& /*def*/) const override { return {}; }

  void submit(std::shared_ptr<SubmissionState> submission) noexcept override {
    try {
      {
        std::lock_guard lock(mutex_);
        queue_.push_back(submission);
      }
      cv_.notify_all();
    } catch (const std::exception& e) {
      submission->complete(Error(ErrorCode::OutOfMemory, std::string("cannot queue: ") + e.what()),
                           {});
    }
  }

  void wait_idle() override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

 private:
  void queue_loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything submitted has run
      std::shared_ptr<SubmissionState> s = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      execute(*s);
      s.reset();
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  void execute(SubmissionState& s) {
    std::optional<Error> failure = wait_for_fences(s.waits);
    // After the fence waits: the time is the command buffer's own work.
    const auto start = std::chrono::steady_clock::now();
    ExecutionConfig config = config_;
    if (profiler_ != nullptr) {  // the one profiling branch of a submission
      config.epoch = profiler_->epoch();
      if (profiler_->per_dispatch()) config.timings = &timings_;
    }
    if (!failure) {
      // Each submission draws its own order from the seed, reproducibly.
      if (config.shuffle_seed) *config.shuffle_seed ^= s.sequence * 0x9E3779B97F4A7C15ULL;
      failure = execute_command_list(*s.commands, s.slot_values, pool_, config);
      if (!failure && config.validate) {
        StatsCounters::add(s.device->counters.dispatches_validated, s.commands->dispatch_count);
      }
    }
    const auto end = std::chrono::steady_clock::now();
    if (failure && !s.label.empty()) failure->add_context("command buffer '" + s.label + "'");
    if (profiler_ != nullptr) record_profile(s, config, start, end, failure.has_value());
    s.complete(std::move(failure), end - start);
  }

  // Hands the submission (and, per dispatch, what each worker measured) to the profiler, before
  // complete() wakes anyone who might then take a snapshot.
  void record_profile(const SubmissionState& s, const ExecutionConfig& config,
                      std::chrono::steady_clock::time_point start,
                      std::chrono::steady_clock::time_point end, bool failed) {
    const auto since = [&](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t - config.epoch).count();
    };
    raw_.clear();
    if (config.timings != nullptr && !failed) {
      const CommandList& list = *s.commands;
      for (std::uint32_t i = 0; i < list.nodes.size() && i < timings_.size(); ++i) {
        if (list.nodes[i].kind != NodeKind::Dispatch) continue;
        const DispatchTiming& t = timings_[i];
        raw_.push_back({s.sequence, i, t.lane, t.start_ns, t.end_ns});
      }
    }
    try {
      profiler_->add_submission(s, since(start), since(end), since(end) - since(start), failed,
                                raw_);
    } catch (const std::exception&) {
      // Out of memory while profiling: the work itself succeeded, so only the record is lost.
    }
  }

  DeviceLimits limits_;
  Profiler* profiler_;  // null when profiling is off
  ThreadPool pool_;
  ExecutionConfig config_;
  // Profiling scratch, used by the queue thread only.
  std::vector<DispatchTiming> timings_;
  std::vector<RawDispatch> raw_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<SubmissionState>> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread queue_thread_;  // last: starts after everything it uses exists
};

}  // namespace

BackendOpenResult open_cpu_backend(const DeviceOptions& options, DeviceShared& shared,
                                   Profiler* profiler) {
  shared.memory = std::make_unique<HostMemory>();
  return {std::make_unique<CpuBackend>(options, profiler), {}};
}

}  // namespace encore::detail
