// The CUPTI-free parts of per-dispatch profiling: a device's record sink, the table joining
// kernel records to tagged launches, and the thread-local tags that mark launches and
// instantiations for the session's callbacks.

#include <algorithm>
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
};

void LaunchTable::on_launch(LaunchTag& tag, std::uint32_t correlation_id) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<void>& slot = tag.launch();
  if (!slot) {
    auto entry = std::make_shared<Entry>();
    entry->sink = &tag.sink();
    entry->sequence = tag.sequence();
    entry->node = tag.node();
    entry->nodes = tag.nodes();
    entry->remaining = tag.kernels();
    slot = entry;
  }
  auto entry = std::static_pointer_cast<Entry>(slot);
  entry->correlation_ids.push_back(correlation_id);
  launches_[correlation_id] = std::move(entry);
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
  std::uint32_t node = entry->node;
  bool known = start != 0 || end != 0;
  if (entry->nodes) {
    auto n = entry->nodes->find(graph_node_id);
    known = known && n != entry->nodes->end();
    if (n != entry->nodes->end()) node = n->second;
  }
  if (known) {
    entry->sink->add(entry->sequence, node, stream, start, end);
  } else {
    entry->sink->add_unattributed(1);
  }
  if (entry->remaining > 0 && --entry->remaining == 0) {
    for (std::uint32_t id : entry->correlation_ids) launches_.erase(id);
  }
  return true;
}

void LaunchTable::attach(CuptiSink& sink) {
  std::lock_guard lock(mutex_);
  sinks_.push_back(&sink);
}

void LaunchTable::detach(CuptiSink& sink) {
  std::lock_guard lock(mutex_);
  std::erase(sinks_, &sink);
  std::erase_if(launches_, [&](const auto& kv) { return kv.second->sink == &sink; });
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
                     std::shared_ptr<const GraphNodeMap> nodes, std::uint32_t kernels)
    : sink_(sink),
      sequence_(sequence),
      kernels_(kernels),
      nodes_(std::move(nodes)),
      previous_(t_launch_tag) {
  t_launch_tag = this;
}

LaunchTag::LaunchTag(CuptiSink& sink, std::uint64_t sequence)
    : sink_(sink), sequence_(sequence), previous_(t_launch_tag) {
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
