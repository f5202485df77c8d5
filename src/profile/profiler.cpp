#include "profile/profiler.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace encore::detail {

namespace {
// Distinct command lists described at once; beyond it the cache starts over (records keep the
// descriptions they use alive).
constexpr std::size_t kListCacheLimit = 1024;
}  // namespace

Profiler::Profiler(ProfileMode mode, StatsCounters& counters)
    : mode_(mode), counters_(counters), epoch_(std::chrono::steady_clock::now()) {}

void Profiler::downgrade(ProfileMode mode, std::string why) {
  mode_ = mode;
  note_ = std::move(why);
}

std::chrono::steady_clock::time_point Profiler::epoch() const noexcept {
  std::lock_guard lock(mutex_);
  return epoch_;
}

std::int64_t Profiler::now_ns() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              epoch())
      .count();
}

std::uint64_t Profiler::generation() const noexcept {
  std::lock_guard lock(mutex_);
  return generation_;
}

std::shared_ptr<const ListInfo> Profiler::list_info(const CommandList& list) {
  auto it = lists_.find(list.id);
  if (it != lists_.end()) return it->second;
  if (lists_.size() >= kListCacheLimit) lists_.clear();
  std::shared_ptr<const ListInfo> info = make_list_info(list);
  lists_.emplace(list.id, info);
  return info;
}

void Profiler::add_submission(const SubmissionState& s, std::int64_t start_ns, std::int64_t end_ns,
                              std::int64_t device_ns, bool failed,
                              std::span<const RawDispatch> dispatches) {
  std::lock_guard lock(mutex_);
  Entry e;
  e.list = list_info(*s.commands);
  SubmissionRecord& r = e.record;
  r.submission = s.sequence;
  r.label = s.label;
  r.replay = s.replay ? ++replays_[s.commands->id] : 0;
  r.dispatches = e.list->dispatch_count;
  r.failed = failed;
  if (!failed) {
    r.start_ns = start_ns;
    r.end_ns = end_ns;
    r.device_ns = device_ns;
  }
  r.graph = e.list->graph;
  // Kept in sequence order for the join. Completions come in order; a submission that fails
  // while launching is recorded at once, possibly before earlier ones finish.
  auto at = submissions_.end();
  while (at != submissions_.begin() && std::prev(at)->record.submission > r.submission) --at;
  submissions_.insert(at, std::move(e));
  dispatches_.insert(dispatches_.end(), dispatches.begin(), dispatches.end());
  StatsCounters::add(counters_.submissions_profiled, 1);
  StatsCounters::add(counters_.dispatches_profiled, dispatches.size());
}

void Profiler::add_dispatches(std::span<const RawDispatch> dispatches) {
  std::lock_guard lock(mutex_);
  dispatches_.insert(dispatches_.end(), dispatches.begin(), dispatches.end());
  StatsCounters::add(counters_.dispatches_profiled, dispatches.size());
}

void Profiler::add_unattributed(std::uint64_t count, std::uint64_t dropped, std::uint64_t foreign) {
  std::lock_guard lock(mutex_);
  unattributed_ += count;
  dropped_ += dropped;
  foreign_ += foreign;
  StatsCounters::add(counters_.profile_records_unattributed, count + dropped + foreign);
}

Profile Profiler::snapshot(const std::string& device_name, BackendKind backend) const {
  std::lock_guard lock(mutex_);
  std::vector<SubmissionRecord> submissions;
  submissions.reserve(submissions_.size());
  for (const Entry& e : submissions_) {
    submissions.push_back(e.record);
    // Spans come from the dispatch records below; a submission without any has none.
    if (spans_from_dispatches_) submissions.back().start_ns = submissions.back().end_ns = 0;
  }

  std::vector<const RawDispatch*> order;
  order.reserve(dispatches_.size());
  for (const RawDispatch& d : dispatches_) order.push_back(&d);
  std::sort(order.begin(), order.end(), [](const RawDispatch* a, const RawDispatch* b) {
    if (a->submission != b->submission) return a->submission < b->submission;
    if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns;
    return a->node < b->node;
  });

  std::vector<DispatchRecord> records;
  records.reserve(order.size());
  std::uint64_t misplaced = 0;
  std::size_t entry = 0;
  for (const RawDispatch* d : order) {
    while (entry < submissions_.size() && submissions_[entry].record.submission < d->submission) {
      ++entry;
    }
    if (entry == submissions_.size() || submissions_[entry].record.submission != d->submission) {
      continue;  // its submission has not finished yet (or was reset away)
    }
    const ListInfo& list = *submissions_[entry].list;
    if (d->node >= list.nodes.size() || list.nodes[d->node].kind != NodeKind::Dispatch) {
      ++misplaced;
      continue;
    }
    const ListInfo::Node& n = list.nodes[d->node];
    SubmissionRecord& s = submissions[entry];
    DispatchRecord r;
    r.submission = s.submission;
    r.submission_label = s.label;
    r.replay = s.replay;
    r.dispatch = d->node;
    r.label = n.label;
    r.op = n.op;
    r.kernel = n.kernel;
    r.grid = n.grid;
    r.block = n.block;
    r.shared_bytes = n.shared_bytes;
    r.lane = d->lane;
    r.start_ns = d->start_ns;
    r.end_ns = d->end_ns;
    if (spans_from_dispatches_) {
      const bool first = records.empty() || records.back().submission != r.submission;
      s.start_ns = first ? r.start_ns : std::min(s.start_ns, r.start_ns);
      s.end_ns = first ? r.end_ns : std::max(s.end_ns, r.end_ns);
    }
    records.push_back(std::move(r));
  }

  Profile profile(mode_, std::move(submissions), std::move(records));
  std::string note = note_;
  const auto append = [&](const std::string& line) {
    if (!note.empty()) note += "; ";
    note += line;
  };
  if (unattributed_ + misplaced > 0) {
    append(std::to_string(unattributed_ + misplaced) +
           " dispatch timings could not be joined to a dispatch of this device");
  }
  if (dropped_ > 0) append(std::to_string(dropped_) + " timings were dropped by the driver");
  if (foreign_ > 0) {
    append(std::to_string(foreign_) +
           " kernel timings of this process matched no launch of a profiling device (kernels "
           "launched outside encore, or launches CUPTI did not report)");
  }
  profile.set_source(device_name, backend, std::move(note));
  return profile;
}

void Profiler::reset() {
  std::lock_guard lock(mutex_);
  submissions_.clear();
  dispatches_.clear();
  unattributed_ = 0;
  dropped_ = 0;
  foreign_ = 0;
  epoch_ = std::chrono::steady_clock::now();
  ++generation_;
}

}  // namespace encore::detail
