#include "backends/cpu/thread_pool.h"

#include <algorithm>

namespace encore::detail {

ThreadPool::ThreadPool(std::size_t threads) {
  if (threads == 0) threads = std::max(1U, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] { return stop_ || tickets_ > 0; });
    if (tickets_ == 0) return;  // stop requested and no team waiting
    --tickets_;
    ++active_;
    const std::function<void()>* body = body_;
    lock.unlock();
    (*body)();
    lock.lock();
    --active_;
    if (active_ == 0 && tickets_ == 0) done_cv_.notify_all();
  }
}

void ThreadPool::run_team(std::size_t team, const std::function<void()>& body) {
  team = std::clamp<std::size_t>(team, 1, size());
  {
    std::lock_guard lock(mutex_);
    body_ = &body;
    tickets_ = team - 1;
  }
  if (team > 1) work_cv_.notify_all();
  body();
  std::unique_lock lock(mutex_);
  // Places no worker took yet are withdrawn: the body is written so that fewer threads still
  // finish the work.
  tickets_ = 0;
  done_cv_.wait(lock, [&] { return active_ == 0; });
  body_ = nullptr;
}

}  // namespace encore::detail
