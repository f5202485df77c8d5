#include "backends/cuda/completion_queue.h"

#include <chrono>
#include <string>

#include "backends/cuda/cuda_check.h"

namespace encore::detail {

CompletionQueue::CompletionQueue(int ordinal, std::function<void(cudaError_t)> on_fault)
    : ordinal_(ordinal), on_fault_(std::move(on_fault)), thread_([this] { loop(); }) {}

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

void CompletionQueue::push(std::shared_ptr<SubmissionState> s, Event start, Event end) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(s), std::move(start), std::move(end)});
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
    pool_.push_back(std::move(item.start));
    pool_.push_back(std::move(item.end));
    busy_ = false;
    cv_.notify_all();
  }
}

void CompletionQueue::finish(InFlight& item) {
  SubmissionState& s = *item.submission;
  const cudaError_t status = cudaEventSynchronize(item.end.get());
  if (status != cudaSuccess) {
    if (is_sticky(status)) on_fault_(status);
    Error e(ErrorCode::KernelFailed,
            "the device reported " + describe(status) +
                " while running this command buffer; the device is lost. Open it with "
                "sync_each_dispatch (ENCORE_CUDA_SYNC_EACH=1) to name the dispatch");
    if (!s.label.empty()) e.add_context("command buffer '" + s.label + "'");
    s.complete(std::move(e), {});
    return;
  }
  // A fence waited for on the device cannot stop the work when its signaller failed; the
  // submission still fails, as it would have on a host wait.
  for (const FenceWait& w : s.waits) {
    if (w.fence->value_failed(w.value)) {
      Error e(ErrorCode::DependencyFailed,
              "the command buffer that signals fence value " + std::to_string(w.value) + " failed");
      if (!s.label.empty()) e.add_context("command buffer '" + s.label + "'");
      s.complete(std::move(e), {});
      return;
    }
  }
  float ms = 0.0F;
  (void)cudaEventElapsedTime(&ms, item.start.get(), item.end.get());
  s.complete(std::nullopt, std::chrono::nanoseconds(static_cast<std::int64_t>(ms * 1e6)));
}

}  // namespace encore::detail
