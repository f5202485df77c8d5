#include "runtime/collective_group.h"

#include <algorithm>
#include <atomic>
#include <functional>

#include "encore/error.h"

#include "backends/nccl_groups.h"
#include "core/registry_by_id.h"

namespace encore::detail {

namespace {

std::atomic<std::uint64_t> next_group_id{1};

// Never destroyed: collective kernels may run while static destructors do.
RegistryById<CollectiveGroup>& table() {
  static auto* const t = new RegistryById<CollectiveGroup>();
  return *t;
}

}  // namespace

CollectiveGroup::CollectiveGroup(std::uint32_t ranks, std::chrono::milliseconds timeout,
                                 std::string label)
    : id_(next_group_id.fetch_add(1)),
      ranks_(ranks),
      timeout_(timeout),
      label_(std::move(label)),
      calls_(ranks) {}

std::shared_ptr<CollectiveGroup> CollectiveGroup::find(std::uint64_t id) {
  return table().find(id);
}

void CollectiveGroup::publish(const std::shared_ptr<CollectiveGroup>& group) {
  table().publish(group->id(), group);
}

std::string CollectiveGroup::describe(const Call& c) const {
  std::string s = describe_collective(c.params.rank, c.params);
  if (!c.what.empty()) s += " (" + c.what + ")";
  return s;
}

void CollectiveGroup::check_failed_locked() const {
  if (failure_) throw Error(ErrorCode::KernelFailed, *failure_);
}

void CollectiveGroup::set_failure_locked(const std::string& why) {
  if (failure_) return;  // the first failure is the one every rank reports
  failure_ = group_failure(label_, ranks_, why);
  cv_.notify_all();
}

void CollectiveGroup::fail_locked(const std::string& why) {
  set_failure_locked(why);
  throw Error(ErrorCode::KernelFailed, *failure_);
}

void CollectiveGroup::abort(const std::string& why) {
  if (nccl_) nccl_fail_group(*nccl_, "aborted: " + why);
  std::lock_guard lock(mutex_);
  set_failure_locked("aborted: " + why);
}

void CollectiveGroup::wait_locked(std::unique_lock<std::mutex>& lock, std::uint32_t rank,
                                  const char* for_what, const std::function<bool()>& done) {
  const bool ok = cv_.wait_for(lock, timeout_, [&] { return failure_.has_value() || done(); });
  check_failed_locked();
  if (!ok) {
    std::string missing;
    for (std::uint32_t r = 0; r < ranks_; ++r) {
      if (!calls_[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    fail_locked("rank " + std::to_string(rank) + " waited " + std::to_string(timeout_.count()) +
                " ms " + for_what +
                (missing.empty() ? std::string() : " (missing: rank " + missing + ")"));
  }
}

void CollectiveGroup::complete_round_locked() {
  const Call& first = *calls_[0];
  for (std::uint32_t r = 1; r < ranks_; ++r) {
    const Call& c = *calls_[r];
    if (!same_collective(c.params, first.params)) {
      fail_locked("the ranks disagree at collective " + std::to_string(rounds_ + 1) + ": " +
                  describe(first) + ", but " + describe(c));
    }
  }
  const std::uint32_t count = first.params.count;
  if (first.params.kind == CollectiveKind::AllReduce) {
    result_.assign(calls_[0]->in, calls_[0]->in + count);
    for (std::uint32_t r = 1; r < ranks_; ++r) {
      const float* in = calls_[r]->in;
      if (first.params.op == ReduceOp::Sum) {
        for (std::uint32_t i = 0; i < count; ++i) result_[i] += in[i];
      } else {
        for (std::uint32_t i = 0; i < count; ++i) result_[i] = std::max(result_[i], in[i]);
      }
    }
  } else {
    result_.resize(std::size_t{count} * ranks_);
    for (std::uint32_t r = 0; r < ranks_; ++r) {
      std::copy_n(calls_[r]->in, count, result_.begin() + std::ptrdiff_t{count} * r);
    }
  }
  result_ready_ = true;
  cv_.notify_all();
}

void CollectiveGroup::run(const CollectiveParams& p, const float* in, float* out,
                          const std::string& what) {
  std::unique_lock lock(mutex_);
  check_failed_locked();
  if (p.rank >= ranks_) {
    fail_locked("rank " + std::to_string(p.rank) + " is not a rank of the group");
  }
  // At the door: the previous round may still be being left.
  wait_locked(lock, p.rank, "for the previous collective to finish",
              [&] { return !result_ready_ && !calls_[p.rank]; });
  calls_[p.rank] = Call{p, in, out, what};
  if (++arrived_ == ranks_) {
    complete_round_locked();
  } else {
    wait_locked(lock, p.rank, "for the other ranks", [&] { return result_ready_; });
  }
  std::copy(result_.begin(), result_.end(), out);
  if (++left_ == ranks_) {  // the last to leave opens the next round
    for (auto& c : calls_) c.reset();
    arrived_ = 0;
    left_ = 0;
    result_ready_ = false;
    ++rounds_;
    cv_.notify_all();
  }
}

}  // namespace encore::detail
