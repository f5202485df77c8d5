#include "core/hazard_tracker.h"

#include <algorithm>

namespace encore::detail {

namespace {

constexpr std::size_t kLinearScanLimit = 8;

// First record whose range ends after `begin` (writes are disjoint and sorted, so their ends are
// sorted too).
template <class Records>
auto first_ending_after(Records& records, std::uint64_t begin) {
  return std::partition_point(records.begin(), records.end(),
                              [&](const auto& r) { return r.range.end <= begin; });
}

// First record that begins at or after `end`.
template <class Records>
auto first_beginning_at_or_after(Records& records, std::uint64_t end) {
  return std::partition_point(records.begin(), records.end(),
                              [&](const auto& r) { return r.range.begin < end; });
}

}  // namespace

// Calls `visit(hazard)` for each recorded access conflicting with `access` until it returns
// false; returns false when stopped early.
template <class Visit>
bool HazardTracker::scan(const PerResource& r, const TrackedAccess& access, Visit&& visit) {
  const ByteRange a = access.range;
  const DependencyKind after_write =
      access.write ? DependencyKind::WriteAfterWrite : DependencyKind::ReadAfterWrite;
  // Short lists (the usual case) are walked from the start; long ones (arenas with many views)
  // are entered by binary search.
  auto first_write = r.writes.size() <= kLinearScanLimit ? r.writes.begin()
                                                         : first_ending_after(r.writes, a.begin);
  for (auto it = first_write; it != r.writes.end() && it->range.begin < a.end; ++it) {
    if (it->range.end <= a.begin) continue;
    if (!visit(Hazard{it->node, after_write, access.resource, it->range, a})) return false;
  }
  if (!access.write) return true;  // read-after-read never conflicts
  // Reads may overlap each other: walk back from the first read starting at or after a.end while
  // a read of the longest length could still reach a.begin.
  auto stop = r.reads.size() <= kLinearScanLimit ? r.reads.end()
                                                 : first_beginning_at_or_after(r.reads, a.end);
  for (auto it = stop; it != r.reads.begin();) {
    --it;
    if (it->range.begin + r.longest_read <= a.begin) break;
    if (overlaps(it->range, a) &&
        !visit(Hazard{it->node, DependencyKind::WriteAfterRead, access.resource, it->range, a})) {
      return false;
    }
  }
  return true;
}

void HazardTracker::collect_conflicts(const TrackedAccess& access, std::vector<Hazard>& out) const {
  if (access.resource >= resources_.size() || access.range.empty()) return;
  scan(resources_[access.resource], access, [&](const Hazard& h) {
    out.push_back(h);
    return true;
  });
}

bool HazardTracker::first_conflict(std::span<const TrackedAccess> accesses, Hazard& out) const {
  for (const TrackedAccess& a : accesses) {
    if (a.resource >= resources_.size() || a.range.empty()) continue;
    const bool none = scan(resources_[a.resource], a, [&](const Hazard& h) {
      out = h;
      return false;
    });
    if (!none) return true;
  }
  return false;
}

void HazardTracker::access(std::uint32_t node, const TrackedAccess& a, std::vector<Hazard>& out) {
  if (a.range.empty()) return;
  if (a.resource >= resources_.size()) [[unlikely]]
    resources_.resize(a.resource + 1);
  PerResource& r = resources_[a.resource];
  if (r.writes.empty() && r.reads.empty()) touched_.push_back(a.resource);  // for reset()
  scan(r, a, [&](const Hazard& h) {
    if (h.node != node) out.push_back(h);  // the dispatch's own earlier accesses
    return true;
  });
  if (!a.write) {
    insert_sorted(r.reads, {a.range, node});
    r.longest_read = std::max(r.longest_read, a.range.size());
    r.reads_end = std::max(r.reads_end, a.range.end);
    return;
  }
  trim_writes(r.writes, a.range);
  if (!r.reads.empty()) trim_reads(r, a.range);
  insert_sorted(r.writes, {a.range, node});
}

inline void HazardTracker::insert_sorted(std::vector<Record>& records, Record record) {
  // Views are mostly recorded in increasing order, so the end is the usual place.
  if (records.empty() || records.back().range.begin <= record.range.begin) [[likely]] {
    records.push_back(record);
    return;
  }
  auto at = std::partition_point(records.begin(), records.end(), [&](const Record& r) {
    return r.range.begin <= record.range.begin;
  });
  records.insert(at, record);
}

void HazardTracker::trim_writes(std::vector<Record>& writes, ByteRange written) {
  // Common case: the write covers every older write (an activation overwritten whole).
  if (writes.empty()) return;
  if (written.begin <= writes.front().range.begin && writes.back().range.end <= written.end) {
    writes.clear();
    return;
  }
  // The overlapped writes are contiguous; keep the parts that stick out on either side.
  auto first = first_ending_after(writes, written.begin);
  auto last = first;
  while (last != writes.end() && last->range.begin < written.end) ++last;
  if (first == last) return;
  const Record head = *first;
  const Record tail = *(last - 1);
  auto at = writes.erase(first, last);
  if (tail.range.end > written.end)
    at = writes.insert(at, {{written.end, tail.range.end}, tail.node});
  if (head.range.begin < written.begin) {
    writes.insert(at, {{head.range.begin, written.begin}, head.node});
  }
}

void HazardTracker::trim_reads(PerResource& r, ByteRange written) {
  // Common case: the write covers every read.
  if (written.begin <= r.reads.front().range.begin && r.reads_end <= written.end) {
    r.clear_reads();
    return;
  }
  auto stop = first_beginning_at_or_after(r.reads, written.end);
  auto start = stop;
  while (start != r.reads.begin() && (start - 1)->range.begin + r.longest_read > written.begin) {
    --start;
  }
  // Cut the written bytes out of each overlapping record in [start, stop). A left part keeps the
  // record's place in the order; a right part starts at written.end and is re-inserted.
  right_parts_.clear();
  for (auto it = start; it != stop; ++it) {
    if (!overlaps(it->range, written)) continue;
    const ByteRange left{it->range.begin, written.begin};
    const ByteRange right{written.end, it->range.end};
    if (!right.empty()) right_parts_.push_back({right, it->node});
    it->range = left.empty() ? ByteRange{} : left;
  }
  auto kept_end = std::remove_if(start, stop, [](const Record& rec) { return rec.range.empty(); });
  r.reads.erase(kept_end, stop);
  for (const Record& rec : right_parts_) insert_sorted(r.reads, rec);
}

void HazardTracker::record(std::uint32_t node, std::span<const TrackedAccess> accesses) {
  for (const TrackedAccess& a : accesses) {
    ignored_.clear();
    access(node, a, ignored_);
  }
}

void HazardTracker::reset() {
  // A resource may appear more than once in touched_ (emptied by a write, then used again);
  // clearing twice is harmless.
  for (std::uint32_t i : touched_) {
    resources_[i].writes.clear();
    resources_[i].clear_reads();
  }
  touched_.clear();
}

std::size_t HazardTracker::record_count() const {
  std::size_t n = 0;
  for (const PerResource& r : resources_) n += r.writes.size() + r.reads.size();
  return n;
}

}  // namespace encore::detail
