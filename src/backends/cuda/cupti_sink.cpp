// The CUPTI-free parts of per-dispatch profiling: a device's record sink, and the thread-local
// tags that mark launches and instantiations for the session's callbacks.

#include <utility>

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
