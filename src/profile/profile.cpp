// Profile: the snapshot value and its summary arithmetic (grouping, totals, nearest-rank
// percentiles, shares). Rendering lives in profile_table.cpp and chrome_trace.cpp.

#include "encore/profile.h"

#include <algorithm>
#include <map>
#include <span>
#include <unordered_map>
#include <utility>

#include "profile/naming.h"

namespace encore {

std::string_view to_string(ProfileGroup group) noexcept {
  switch (group) {
    case ProfileGroup::Label:
      return "label";
    case ProfileGroup::Op:
      return "op";
    case ProfileGroup::Kernel:
      return "kernel";
    case ProfileGroup::Submission:
      return "submission";
  }
  return "?";
}

namespace {

// ready_ns of every record: the latest end among the records of the dispatches it waited for
// (its submission's graph), else its own start.
void set_ready_times(std::span<const SubmissionRecord> submissions,
                     std::span<DispatchRecord> dispatches) {
  std::unordered_map<std::uint64_t, const DispatchGraph*> graph_of;
  for (const SubmissionRecord& s : submissions) graph_of[s.submission] = s.graph.get();
  std::unordered_map<std::uint64_t, std::unordered_map<std::uint32_t, std::size_t>> record_of;
  for (std::size_t i = 0; i < dispatches.size(); ++i) {
    record_of[dispatches[i].submission][dispatches[i].dispatch] = i;
  }
  for (DispatchRecord& d : dispatches) {
    d.ready_ns = d.start_ns;
    const auto g = graph_of.find(d.submission);
    if (g == graph_of.end() || g->second == nullptr) continue;
    const auto& records = record_of[d.submission];
    bool first = true;
    for (const std::uint32_t w : g->second->waits_of(d.dispatch)) {
      const auto producer = records.find(w);
      if (producer == records.end()) continue;
      const std::int64_t end = dispatches[producer->second].end_ns;
      d.ready_ns = first ? end : std::max(d.ready_ns, end);
      first = false;
    }
  }
}

}  // namespace

Profile::Profile(ProfileMode mode, std::vector<SubmissionRecord> submissions,
                 std::vector<DispatchRecord> dispatches)
    : mode_(mode), submissions_(std::move(submissions)), dispatches_(std::move(dispatches)) {
  set_ready_times(submissions_, dispatches_);
}

void Profile::set_source(std::string device_name, BackendKind backend, std::string note) {
  device_name_ = std::move(device_name);
  backend_ = backend;
  note_ = std::move(note);
}

namespace {

// Nearest rank: the value at 1-based rank ceil(p/100 * n) of the sorted durations.
std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, int percent) {
  const std::size_t n = sorted.size();
  std::size_t rank = (static_cast<std::size_t>(percent) * n + 99) / 100;
  rank = std::clamp<std::size_t>(rank, 1, n);
  return sorted[rank - 1];
}

}  // namespace

std::vector<ProfileRow> Profile::summary(ProfileGroup group) const {
  // A group's durations and its summed exposed time. std::map keeps the groups in name order,
  // which makes ties stable.
  struct Group {
    std::vector<std::int64_t> durations;
    std::int64_t exposed_ns = 0;
  };
  std::map<std::string, Group, std::less<>> groups;
  const auto add = [&](std::string_view name, std::int64_t duration, std::int64_t exposed) {
    auto it = groups.find(name);
    if (it == groups.end()) it = groups.emplace(std::string(name), Group{}).first;
    it->second.durations.push_back(duration);
    it->second.exposed_ns += exposed;
  };
  if (group == ProfileGroup::Submission) {
    for (const SubmissionRecord& s : submissions_) {
      if (s.failed) continue;
      const std::string_view name =
          s.label.empty() ? std::string_view(detail::kUnlabelledCommandBuffer) : s.label;
      add(name, s.duration_ns(), s.duration_ns());
    }
  } else {
    for (const DispatchRecord& d : dispatches_) {
      std::string_view name;
      switch (group) {
        case ProfileGroup::Label:
          name = d.name();
          break;
        case ProfileGroup::Op:
          name = to_string(d.op);
          break;
        default:
          name = d.kernel;
          break;
      }
      add(name, d.duration_ns(), d.exposed_ns());
    }
  }
  std::vector<ProfileRow> rows;
  std::int64_t all = 0;
  for (auto& [name, g] : groups) {
    std::vector<std::int64_t>& durations = g.durations;
    std::sort(durations.begin(), durations.end());
    ProfileRow row;
    row.name = name;
    row.count = durations.size();
    for (std::int64_t d : durations) row.total_ns += d;
    row.mean_ns = static_cast<double>(row.total_ns) / static_cast<double>(row.count);
    row.p50_ns = nearest_rank(durations, 50);
    row.p99_ns = nearest_rank(durations, 99);
    row.exposed_ns = g.exposed_ns;
    all += row.total_ns;
    rows.push_back(std::move(row));
  }
  for (ProfileRow& row : rows) {
    row.share = all > 0 ? static_cast<double>(row.total_ns) / static_cast<double>(all) : 0.0;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) {
    return a.total_ns > b.total_ns;
  });
  return rows;
}

}  // namespace encore
