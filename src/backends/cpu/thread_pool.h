#pragma once

// A fixed set of worker threads that run "teams": one body executed concurrently by up to
// `size()` threads (the caller included), returning when all of them have finished. The CPU
// backend runs one submission's dependency graph as one team.
//
// Why not oneTBB: Debian's libtbb is not built with ThreadSanitizer instrumentation, so TSan
// reports races inside it; the CPU backend must be TSan-clean because it exists to make ordering
// bugs visible (docs/adr/0002-cpu-thread-pool.md).

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace encore::detail {

class ThreadPool {
 public:
  /// `threads` is the team size including the caller; 0 means hardware concurrency.
  explicit ThreadPool(std::size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Largest team (workers + the calling thread).
  std::size_t size() const noexcept { return workers_.size() + 1; }

  /// Runs `body` on min(team, size()) threads including the caller; returns when all finished.
  /// One team at a time (the CPU backend calls it from its single queue thread).
  void run_team(std::size_t team, const std::function<void()>& body);

 private:
  void worker_loop();

  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const std::function<void()>* body_ = nullptr;
  std::size_t tickets_ = 0;  // team places not yet taken by a worker
  std::size_t active_ = 0;   // workers running the body
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace encore::detail
