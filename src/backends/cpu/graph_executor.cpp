#include "backends/cpu/graph_executor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/dispatch_runner.h"
#include "backends/cpu/task_graph.h"
#include "backends/cpu/write_validator.h"

namespace encore::detail {

namespace {

// Ready nodes: a min-heap (program order first) or, when shuffling, a bag drawn at random.
class ReadySet {
 public:
  explicit ReadySet(std::optional<std::uint64_t> seed) : shuffle_(seed.has_value()) {
    if (seed) rng_.seed(*seed);
  }
  bool empty() const { return shuffle_ ? bag_.empty() : heap_.empty(); }
  void push(std::uint32_t node) {
    if (shuffle_) {
      bag_.push_back(node);
    } else {
      heap_.push(node);
    }
  }
  std::uint32_t pop() {
    if (!shuffle_) {
      const std::uint32_t n = heap_.top();
      heap_.pop();
      return n;
    }
    std::uniform_int_distribution<std::size_t> pick(0, bag_.size() - 1);
    std::swap(bag_[pick(rng_)], bag_.back());
    const std::uint32_t n = bag_.back();
    bag_.pop_back();
    return n;
  }
  void clear() {
    bag_.clear();
    heap_ = {};
  }

 private:
  bool shuffle_;
  std::mt19937_64 rng_;
  std::vector<std::uint32_t> bag_;
  std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, std::greater<>> heap_;
};

class GraphRun {
 public:
  GraphRun(const CommandList& list, std::span<const std::byte> slot_values,
           const ExecutionConfig& config)
      : list_(list),
        slot_values_(slot_values),
        config_(config),
        graph_(build_task_graph(list)),
        pending_(graph_.predecessor_count),
        ready_(config.shuffle_seed) {
    for (std::uint32_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i] == 0) ready_.push(i);
    }
  }

  template <bool kTimed>
  void worker() {
    WorkerScratch scratch;
    const std::uint32_t lane = kTimed ? next_lane_.fetch_add(1, std::memory_order_relaxed) : 0;
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [&] { return !ready_.empty() || running_ == 0; });
      if (ready_.empty()) break;  // nothing ready and nothing running: finished or stopped
      const std::uint32_t node = ready_.pop();
      ++running_;
      lock.unlock();
      std::optional<Error> failure;
      if constexpr (kTimed) {
        const auto start = std::chrono::steady_clock::now();
        failure = run_node(node, scratch);
        const auto end = std::chrono::steady_clock::now();
        // Each node runs once, on one worker: no other thread writes this entry, and the
        // team's join orders these writes before the caller reads them.
        (*config_.timings)[node] = {lane, since_epoch(start), since_epoch(end)};
      } else {
        failure = run_node(node, scratch);
      }
      lock.lock();
      --running_;
      ++done_;
      if (failure) {
        if (!error_) error_ = std::move(failure);
        ready_.clear();  // schedule nothing more
      } else if (!error_) {
        for (std::uint32_t s : graph_.successors_of(node)) {
          if (--pending_[s] == 0) ready_.push(s);
        }
      }
      cv_.notify_all();
    }
  }

  std::optional<Error> result() {
    if (!error_ && done_ != list_.nodes.size()) {
      return Error(ErrorCode::Internal, "command list stalled after " + std::to_string(done_) +
                                            " of " + std::to_string(list_.nodes.size()) +
                                            " nodes (cyclic dependencies)");
    }
    return std::move(error_);
  }

 private:
  std::int64_t since_epoch(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - config_.epoch).count();
  }

  std::optional<Error> run_node(std::uint32_t index, WorkerScratch& scratch) {
    if (list_.nodes[index].kind == NodeKind::Barrier) return std::nullopt;
    std::optional<WriteValidator> validator;
    if (config_.validate) {
      validator.emplace(list_);
      validator->before();
    }
    try {
      run_dispatch(list_, index, slot_values_, scratch, config_.validate);
    } catch (Error& e) {
      return std::move(e.add_context(list_.describe_node(index)));
    } catch (const std::exception& e) {
      return Error(ErrorCode::KernelFailed, std::string("kernel threw: ") + e.what())
          .add_context(list_.describe_node(index));
    } catch (...) {
      return Error(ErrorCode::KernelFailed, "kernel threw a non-standard exception")
          .add_context(list_.describe_node(index));
    }
    if (validator) return validator->after(index);
    return std::nullopt;
  }

  const CommandList& list_;
  std::span<const std::byte> slot_values_;
  const ExecutionConfig& config_;
  TaskGraph graph_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::uint32_t> pending_;
  ReadySet ready_;
  std::size_t running_ = 0;
  std::size_t done_ = 0;
  std::atomic<std::uint32_t> next_lane_{0};
  std::optional<Error> error_;
};

}  // namespace

std::optional<Error> execute_command_list(const CommandList& list,
                                          std::span<const std::byte> slot_values, ThreadPool& pool,
                                          const ExecutionConfig& config) {
  if (list.nodes.empty()) return std::nullopt;
  GraphRun run(list, slot_values, config);
  // Validation compares memory around each dispatch, so dispatches must run one at a time.
  const std::size_t team = config.validate ? 1 : config.threads;
  if (config.timings != nullptr) {
    config.timings->assign(list.nodes.size(), DispatchTiming{});
    pool.run_team(team, [&run] { run.worker<true>(); });
  } else {
    pool.run_team(team, [&run] { run.worker<false>(); });
  }
  return run.result();
}

}  // namespace encore::detail
