#include "backends/cuda/completion_queue.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "backends/cuda/cuda_check.h"

namespace encore::detail {

CompletionQueue::CompletionQueue(int ordinal, std::function<void(cudaError_t)> on_fault,
                                 Profiler* profiler)
    : ordinal_(ordinal),
      on_fault_(std::move(on_fault)),
      profiler_(profiler),
      thread_([this] { loop(); }) {}

CompletionQueue::~CompletionQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Event CompletionQueue::take_event() {
  {
    std::lock_guard lock(mutex_);
    if (!pool_.empty()) {
      Event e = std::move(pool_.back());
      pool_.pop_back();
      return e;
    }
  }
  return make_event(true);
}

void CompletionQueue::push(std::shared_ptr<SubmissionState> s, Event start, Event end,
                           std::int64_t launch_ns, std::shared_ptr<InFlightWatch> watch) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(s), std::move(start), std::move(end), launch_ns, std::move(watch)});
  }
  cv_.notify_all();
}

void CompletionQueue::wait_idle() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void CompletionQueue::loop() {
  (void)cudaSetDevice(ordinal_);
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every submission has completed
    InFlight item = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    finish(item);
    lock.lock();
    if (item.start) pool_.push_back(std::move(item.start));  // kept by the profile chain if not
    pool_.push_back(std::move(item.end));
    busy_ = false;
    cv_.notify_all();
  }
}

cudaError_t CompletionQueue::wait_watched(InFlight& item, std::optional<Error>& failure) {
  const auto begin = std::chrono::steady_clock::now();
  for (int polls = 0;; ++polls) {
    const cudaError_t status = cudaEventQuery(item.end.get());
    if (status != cudaErrorNotReady) return status;
    failure = item.watch->check(std::chrono::steady_clock::now() - begin);
    if (failure) return cudaEventSynchronize(item.end.get());
    // Spin briefly (a decode step's collectives take microseconds), then back off.
    if (polls < 200) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

void CompletionQueue::finish(InFlight& item) {
  SubmissionState& s = *item.submission;
  std::optional<Error> failure;
  std::int64_t elapsed_ns = 0;
  const cudaError_t status =
      item.watch ? wait_watched(item, failure) : cudaEventSynchronize(item.end.get());
  if (failure) {
    // The watch failed the submission; its error says why better than what the end event says.
  } else if (status != cudaSuccess) {
    if (is_sticky(status)) on_fault_(status);
    failure = Error(ErrorCode::KernelFailed,
                    "the device reported " + describe(status) +
                        " while running this command buffer; the device is lost. Open it with "
                        "sync_each_dispatch (ENCORE_CUDA_SYNC_EACH=1) to name the dispatch");
  } else {
    // A fence waited for on the device cannot stop the work when its signaller failed; the
    // submission still fails, as it would have on a host wait.
    for (const FenceWait& w : s.waits) {
      if (w.fence->value_failed(w.value)) {
        failure =
            Error(ErrorCode::DependencyFailed, "the command buffer that signals fence value " +
                                                   std::to_string(w.value) + " failed");
        break;
      }
    }
  }
  if (!failure) {
    float ms = 0.0F;
    (void)cudaEventElapsedTime(&ms, item.start.get(), item.end.get());
    elapsed_ns = static_cast<std::int64_t>(static_cast<double>(ms) * 1e6);
  } else if (!s.label.empty()) {
    failure->add_context("command buffer '" + s.label + "'");
  }
  if (profiler_ != nullptr) record_profile(item, failure.has_value(), elapsed_ns);
  s.complete(std::move(failure), std::chrono::nanoseconds(elapsed_ns));
}

void CompletionQueue::record_profile(InFlight& item, bool failed, std::int64_t elapsed_ns) {
  std::int64_t start_ns = item.launch_ns;
  if (!failed) {
    const std::uint64_t generation = profiler_->generation();
    float ms = 0.0F;
    if (chain_event_ && chain_generation_ == generation &&
        cudaEventElapsedTime(&ms, chain_event_.get(), item.start.get()) == cudaSuccess) {
      start_ns = chain_ns_ + static_cast<std::int64_t>(static_cast<double>(ms) * 1e6);
    }
    // This start becomes the chain's reference; the previous one goes back to the pool.
    std::swap(chain_event_, item.start);
    chain_ns_ = start_ns;
    chain_generation_ = generation;
  }
  try {
    profiler_->add_submission(*item.submission, start_ns, start_ns + elapsed_ns, elapsed_ns,
                              failed);
  } catch (const std::exception&) {
    // Out of memory while profiling: the work itself is unaffected, only its record is lost.
  }
}

}  // namespace encore::detail
