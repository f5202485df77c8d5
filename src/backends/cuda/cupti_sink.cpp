// The CUPTI-free parts of per-dispatch profiling: a device's record sink, the table joining
// kernel records to tagged launches, and the thread-local tags that mark launches and
// instantiations for the session's callbacks.

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "backends/cuda/cupti_session.h"

namespace encore::detail {

namespace {
thread_local LaunchTag* t_launch_tag = nullptr;
thread_local CloneCapture* t_clone_capture = nullptr;
}  // namespace

void CuptiSink::add(std::uint64_t sequence, std::uint32_t node, std::uint32_t stream,
                    std::uint64_t start, std::uint64_t end) {
  std::lock_guard lock(mutex_);
  auto [lane, fresh] = lanes_.emplace(stream, static_cast<std::uint32_t>(lanes_.size()));
  (void)fresh;
  const auto on_clock = [&](std::uint64_t t) {
    return static_cast<std::int64_t>(t) - static_cast<std::int64_t>(epoch_);
  };
  pending_.records.push_back({sequence, node, lane->second, on_clock(start), on_clock(end)});
}

void CuptiSink::add_unattributed(std::uint64_t count) {
  std::lock_guard lock(mutex_);
  pending_.unattributed += count;
}

void CuptiSink::add_foreign(std::uint64_t count) {
  std::lock_guard lock(mutex_);
  pending_.foreign += count;
}

void CuptiSink::add_dropped(std::uint64_t count) {
  std::lock_guard lock(mutex_);
  pending_.dropped += count;
}

CuptiSink::Drained CuptiSink::drain() {
  std::lock_guard lock(mutex_);
  Drained out = std::move(pending_);
  pending_ = Drained{};
  return out;
}

void CuptiSink::reset(std::uint64_t epoch) {
  std::lock_guard lock(mutex_);
  pending_ = Drained{};
  epoch_ = epoch;
}

// One tagged launch: a kernel launch (1 kernel) or a graph launch (one kernel per dispatch).
struct LaunchTable::Entry {
  CuptiSink* sink = nullptr;
  std::uint64_t sequence = 0;
  std::uint32_t node = 0;
  std::shared_ptr<const GraphNodeMap> nodes;
  std::uint64_t remaining = 1;
  std::vector<std::uint32_t> correlation_ids;
  const void* expected_on = nullptr;  // in expected_[expected_on] until a launch meets it
  std::shared_ptr<const KernelOrder> in_order;
  struct Unplaced {
    std::uint32_t stream;
    std::uint64_t start, end;
  };
  std::vector<Unplaced> unplaced;  // records of unknown nodes, placed once every kernel reported
};

namespace {

// An untagged runtime launch call of this thread, whose nested driver call is the same launch:
// the entry it met (null: none).
thread_local bool t_in_untagged_runtime = false;
thread_local std::shared_ptr<void> t_untagged_runtime_entry;

}  // namespace

std::shared_ptr<LaunchTable::Entry> LaunchTable::entry_for(LaunchTag& tag) {
  auto entry = std::make_shared<Entry>();
  entry->sink = &tag.sink();
  entry->sequence = tag.sequence();
  entry->node = tag.node();
  entry->nodes = tag.nodes();
  entry->remaining = tag.kernels();
  entry->in_order = tag.in_order();
  return entry;
}

void LaunchTable::file(const std::shared_ptr<Entry>& entry, std::uint32_t correlation_id) {
  entry->correlation_ids.push_back(correlation_id);
  launches_[correlation_id] = entry;
}

void LaunchTable::on_launch(LaunchTag& tag, std::uint32_t correlation_id) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<void>& slot = tag.launch();
  if (!slot) slot = entry_for(tag);
  auto entry = std::static_pointer_cast<Entry>(slot);
  if (entry->expected_on != nullptr) {  // the collective launched on this thread after all
    std::erase(expected_[entry->expected_on], entry);
    entry->expected_on = nullptr;
  }
  file(entry, correlation_id);
}

void LaunchTable::expect(LaunchTag& tag, const void* stream) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<Entry> entry = entry_for(tag);
  entry->expected_on = stream;
  expected_[stream].push_back(entry);
  tag.launch() = entry;
}

bool LaunchTable::on_untagged_launch(const void* stream, std::uint32_t correlation_id,
                                     bool nested) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<Entry> entry;
  if (nested && t_in_untagged_runtime) {
    entry = std::static_pointer_cast<Entry>(t_untagged_runtime_entry);
    t_in_untagged_runtime = false;
    t_untagged_runtime_entry.reset();
  } else {
    auto it = expected_.find(stream);
    if (it != expected_.end() && !it->second.empty()) {
      entry = it->second.front();
      it->second.pop_front();
      entry->expected_on = nullptr;
    }
    if (!nested) {
      t_in_untagged_runtime = true;
      t_untagged_runtime_entry = entry;
    }
  }
  if (!entry) return false;
  file(entry, correlation_id);
  return true;
}

bool LaunchTable::deliver(std::uint32_t correlation_id, std::uint64_t graph_node_id,
                          std::uint32_t stream, std::uint64_t start, std::uint64_t end) {
  std::lock_guard lock(mutex_);
  auto it = launches_.find(correlation_id);
  if (it == launches_.end()) {
    for (CuptiSink* sink : sinks_) sink->add_foreign(1);
    return false;
  }
  const std::shared_ptr<Entry> entry = it->second;
  std::optional<std::uint32_t> node = entry->node;
  if (entry->nodes) {
    auto n = entry->nodes->find(graph_node_id);
    node = n != entry->nodes->end() ? std::optional(n->second) : std::nullopt;
  }
  if (start == 0 && end == 0) {
    entry->sink->add_unattributed(1);
  } else if (node) {
    entry->sink->add(entry->sequence, *node, stream, start, end);
  } else if (entry->in_order && !entry->in_order->empty()) {
    entry->unplaced.push_back({stream, start, end});  // placed once the launch is complete
  } else {
    entry->sink->add_unattributed(1);
  }
  if (entry->remaining > 0 && --entry->remaining == 0) {
    place_unplaced(*entry);
    for (std::uint32_t id : entry->correlation_ids) launches_.erase(id);
  }
  return true;
}

// The records of a complete graph launch that had no known node: the collectives' kernels, in
// order of start, to the dispatches of in_order when their numbers agree.
void LaunchTable::place_unplaced(Entry& entry) {
  if (entry.unplaced.empty()) return;
  if (!entry.in_order || entry.unplaced.size() != entry.in_order->size()) {
    entry.sink->add_unattributed(entry.unplaced.size());
    return;
  }
  std::sort(entry.unplaced.begin(), entry.unplaced.end(),
            [](const Entry::Unplaced& a, const Entry::Unplaced& b) { return a.start < b.start; });
  for (std::size_t k = 0; k < entry.unplaced.size(); ++k) {
    const Entry::Unplaced& u = entry.unplaced[k];
    entry.sink->add(entry.sequence, (*entry.in_order)[k], u.stream, u.start, u.end);
  }
}

void LaunchTable::attach(CuptiSink& sink) {
  std::lock_guard lock(mutex_);
  sinks_.push_back(&sink);
}

void LaunchTable::detach(CuptiSink& sink) {
  std::lock_guard lock(mutex_);
  std::erase(sinks_, &sink);
  std::erase_if(launches_, [&](const auto& kv) { return kv.second->sink == &sink; });
  for (auto& [stream, entries] : expected_) {
    std::erase_if(entries, [&](const auto& e) { return e->sink == &sink; });
  }
  std::erase_if(expected_, [](const auto& kv) { return kv.second.empty(); });
}

void LaunchTable::dropped(std::uint64_t count) {
  std::lock_guard lock(mutex_);
  for (CuptiSink* sink : sinks_) sink->add_dropped(count);
}

std::size_t LaunchTable::pending() const {
  std::lock_guard lock(mutex_);
  std::size_t launches = 0;
  std::vector<const Entry*> seen;
  for (const auto& [id, entry] : launches_) {
    if (std::find(seen.begin(), seen.end(), entry.get()) == seen.end()) {
      seen.push_back(entry.get());
      ++launches;
    }
  }
  return launches;
}

LaunchTag::LaunchTag(CuptiSink& sink, std::uint64_t sequence,
                     std::shared_ptr<const GraphNodeMap> nodes, std::uint32_t kernels,
                     std::shared_ptr<const KernelOrder> in_order)
    : sink_(sink),
      sequence_(sequence),
      kernels_(kernels),
      nodes_(std::move(nodes)),
      in_order_(std::move(in_order)),
      previous_(t_launch_tag) {
  t_launch_tag = this;
}

LaunchTag::LaunchTag(CuptiSink& sink, std::uint64_t sequence, CuptiSession* session)
    : sink_(sink), sequence_(sequence), session_(session), previous_(t_launch_tag) {
  t_launch_tag = this;
}

LaunchTag::~LaunchTag() { t_launch_tag = previous_; }

LaunchTag* LaunchTag::current() noexcept { return t_launch_tag; }

ScopedCloneCapture::ScopedCloneCapture(CloneCapture& capture) : previous_(t_clone_capture) {
  t_clone_capture = &capture;
}

ScopedCloneCapture::~ScopedCloneCapture() { t_clone_capture = previous_; }

CloneCapture* ScopedCloneCapture::current() noexcept { return t_clone_capture; }

}  // namespace encore::detail
