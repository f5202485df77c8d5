#pragma once

// Observes the completion of launched submissions. Each launch records an event after its work;
// one thread waits on those events in launch order and completes the submissions (releasing
// their buffers, signalling fences, waking waiters), off the launching thread. A CUDA call is
// never made from a stream callback, where the driver forbids them.
//
// Profiling: each submission is recorded in the profiler before it completes. Its place on the
// profile clock comes from the events: the first submission after the profiler's epoch starts
// when it was launched (host clock), each later one at the previous start plus the time between
// the two start events, so submissions keep their GPU spacing (cudaEventElapsedTime between
// neighbours stays precise where one far-away reference event would lose float precision).
//
// Watched submissions (those with collectives, which wait for other devices) are polled instead
// of waited for: between polls their watch may fail them, and must then make their work end.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/cuda/cuda_handles.h"
#include "core/submission_state.h"
#include "profile/profiler.h"

namespace encore::detail {

/// What the completion thread checks while a watched submission runs.
class InFlightWatch {
 public:
  virtual ~InFlightWatch() = default;
  /// Called between polls of the submission's end event, `waited` after the thread began
  /// waiting for it. Returns the error that fails the submission, having made its work end (the
  /// thread then waits for the end event), or nothing to keep polling.
  virtual std::optional<Error> check(std::chrono::steady_clock::duration waited) = 0;
};

class CompletionQueue {
 public:
  /// `on_fault` is called (on the queue's thread) with the error when an event reports that the
  /// context failed; the submission then fails with KernelFailed.
  explicit CompletionQueue(int ordinal, std::function<void(cudaError_t)> on_fault,
                           Profiler* profiler = nullptr);
  ~CompletionQueue();  // waits for every submission it holds
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  /// A timing event from the pool (created when the pool is empty).
  Event take_event();
  /// Completes `s` once `end` has fired; its time is the span from `start` to `end`.
  /// `launch_ns`: when it was launched on the profile clock (profiling only). With `watch`, the
  /// end event is polled and the watch checked between polls.
  void push(std::shared_ptr<SubmissionState> s, Event start, Event end, std::int64_t launch_ns = 0,
            std::shared_ptr<InFlightWatch> watch = nullptr);
  /// Blocks until every pushed submission has completed.
  void wait_idle();

 private:
  struct InFlight {
    std::shared_ptr<SubmissionState> submission;
    Event start;
    Event end;
    std::int64_t launch_ns = 0;
    std::shared_ptr<InFlightWatch> watch;
  };

  void loop();
  void finish(InFlight& item);
  /// Polls a watched item's end event; `failure` is set when the watch fails it.
  cudaError_t wait_watched(InFlight& item, std::optional<Error>& failure);
  /// The submission's record, before it completes.
  void record_profile(InFlight& item, bool failed, std::int64_t elapsed_ns);

  int ordinal_;
  std::function<void(cudaError_t)> on_fault_;
  Profiler* profiler_;
  // The chain of submission starts (profiling, loop thread only).
  Event chain_event_;
  std::int64_t chain_ns_ = 0;
  std::uint64_t chain_generation_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<InFlight> queue_;
  std::vector<Event> pool_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts after everything it uses exists
};

}  // namespace encore::detail
