#pragma once

// The per-device record store behind Device::profile(). Backends add what they measured; the
// store joins it with what was recorded (ListInfo) when a snapshot is taken.
//
// Hot path: a backend holds a null Profiler pointer when profiling is off and tests it once per
// submission; nothing else runs. When on, a backend calls add_submission() once per submission,
// on its completion thread, before SubmissionState::complete() (so a caller that waited for the
// submission finds it in the next snapshot). Per-dispatch times come with it (CPU) or later from
// the driver (CUDA/CUPTI: add_dispatches(), joined by submission sequence number at snapshot).
//
// Replay numbers count the submissions of each recording (command list id) in completion order,
// which is commit order on every backend.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "encore/options.h"
#include "encore/profile.h"

#include "core/stats_counters.h"
#include "core/submission_state.h"
#include "profile/list_info.h"

namespace encore::detail {

/// One timed dispatch, as a backend measured it.
struct RawDispatch {
  std::uint64_t submission = 0;  ///< the submission's sequence number
  std::uint32_t node = 0;        ///< node index in its command list
  std::uint32_t lane = 0;
  std::int64_t start_ns = 0;  ///< on the profile clock
  std::int64_t end_ns = 0;
};

class Profiler {
 public:
  Profiler(ProfileMode mode, StatsCounters& counters);

  /// The mode in effect (see downgrade()).
  ProfileMode mode() const noexcept { return mode_; }
  bool per_dispatch() const noexcept { return mode_ == ProfileMode::Dispatch; }
  /// Called by a backend while it opens, before any submission: it cannot honour the mode asked
  /// for (e.g. no CUPTI), records `mode` instead and keeps `why` for Device::profile_note().
  void downgrade(ProfileMode mode, std::string why);
  const std::string& note() const noexcept { return note_; }

  /// Nanoseconds since the epoch (open or reset) on the steady clock.
  std::int64_t now_ns() const noexcept;
  /// The epoch itself, for backends that time many things per submission.
  std::chrono::steady_clock::time_point epoch() const noexcept;
  /// Changes at every reset, so backends keeping their own time base can notice.
  std::uint64_t generation() const noexcept;
  /// Submission spans come from their dispatch records (the first start, the last end) instead
  /// of what add_submission() said: for backends whose dispatch clock differs from now_ns().
  void take_spans_from_dispatches() noexcept { spans_from_dispatches_ = true; }

  /// A finished submission. `s.commands` must still be alive. Failed submissions are recorded
  /// with their label and no times.
  void add_submission(const SubmissionState& s, std::int64_t start_ns, std::int64_t end_ns,
                      std::int64_t device_ns, bool failed,
                      std::span<const RawDispatch> dispatches = {});
  /// Dispatch times measured apart from their submission; joined at snapshot.
  void add_dispatches(std::span<const RawDispatch> dispatches);
  /// Timings that could not be attributed: `count` of this device's launches (unknown node, no
  /// timestamps), `dropped` by the driver, `foreign`: kernels of the process that matched no
  /// launch of a profiling device. Reported in the note and counted in Stats.
  void add_unattributed(std::uint64_t count, std::uint64_t dropped, std::uint64_t foreign);

  /// Everything recorded so far. Dispatch records of submissions not yet finished stay for a
  /// later snapshot.
  Profile snapshot(const std::string& device_name, BackendKind backend) const;
  /// Drops every record and restarts the clock. Replay counts continue.
  void reset();

 private:
  struct Entry {
    SubmissionRecord record;
    std::shared_ptr<const ListInfo> list;
  };

  std::shared_ptr<const ListInfo> list_info(const CommandList& list);

  ProfileMode mode_;
  std::string note_;
  StatsCounters& counters_;
  bool spans_from_dispatches_ = false;

  mutable std::mutex mutex_;
  std::chrono::steady_clock::time_point epoch_;
  std::uint64_t generation_ = 0;
  std::vector<Entry> submissions_;  // by sequence number
  std::vector<RawDispatch> dispatches_;
  std::uint64_t unattributed_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t foreign_ = 0;
  // Command list facts by list id (a replayed recording is described once), and submissions
  // per recording. The cache is bounded; the replay counts are 16 bytes per recording.
  std::unordered_map<std::uint64_t, std::shared_ptr<const ListInfo>> lists_;
  std::unordered_map<std::uint64_t, std::uint64_t> replays_;
};

}  // namespace encore::detail
