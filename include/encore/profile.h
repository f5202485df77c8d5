#pragma once

/// \file
/// What a device ran and how long it took: one record per submission (command buffer) and, in
/// ProfileMode::Dispatch, one per dispatch execution, each joined back to what the program
/// recorded (dispatch label, op kind, kernel, launch shape, command buffer label, replay number).
///
///   Device device = Device::open({.profile = ProfileMode::Dispatch});
///   ... commit, submit recordings ...
///   device.wait_idle();
///   Profile p = device.profile();
///   std::puts(p.report().c_str());                  // tables by label, op kind, kernel
///   p.write_chrome_trace("step.json");              // open in https://ui.perfetto.dev
///
/// Times are nanoseconds on one clock per device: the CPU backend's steady clock, CUPTI's
/// timestamps on CUDA (per-submission mode on CUDA: CUDA events chained from the first
/// submission). Zero is the device's profiling epoch (open or reset_profile()).
///
/// A Profile is a value: a snapshot that owns its records. Copies are independent; it is safe to
/// read from several threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "encore/options.h"
#include "encore/types.h"

namespace encore {

/// The ordering of one recorded command buffer, shared by every submission of it: for each node
/// index, the dispatches it waited for. Recorded dependencies (auto_dag, serial) name their
/// dispatch; a barrier makes each dispatch after it wait for every dispatch of the group before
/// it. Barrier nodes have no entry of their own (an empty list).
struct DispatchGraph {
  std::vector<std::uint32_t> begin;  ///< per node, plus one: its range in `waits`
  std::vector<std::uint32_t> waits;  ///< node indices of dispatches

  std::size_t node_count() const noexcept { return begin.empty() ? 0 : begin.size() - 1; }
  /// The dispatches node `node` waited for; empty for an unknown node.
  std::span<const std::uint32_t> waits_of(std::size_t node) const noexcept {
    if (node + 1 >= begin.size()) return {};
    return std::span<const std::uint32_t>(waits).subspan(begin[node],
                                                         begin[node + 1] - begin[node]);
  }
};

/// One command buffer that ran (a commit, or a submission of a Recording).
struct SubmissionRecord {
  std::uint64_t submission = 0;  ///< Submission::sequence(): position in the commit order
  std::string label;             ///< command buffer label (may be empty)
  /// 0 for an encoder's commit; for a Recording, 1 on its first submission, 2 on the second...
  /// (counted per device while profiling is on).
  std::uint64_t replay = 0;
  std::uint32_t dispatches = 0;  ///< dispatches in the command buffer
  bool failed = false;           ///< it finished with an error (its times are then zero)
  /// On the device's profile clock (see the file comment). CUDA per dispatch: the first
  /// kernel's start and the last kernel's end (zero when no kernel record arrived).
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  /// Submission::time(): the device's own measure (CUDA events around the launch; CPU wall time).
  std::int64_t device_ns = 0;
  /// The command buffer's ordering; null when unknown (records made by hand).
  std::shared_ptr<const DispatchGraph> graph;

  std::int64_t duration_ns() const noexcept { return end_ns - start_ns; }
};

/// One execution of one dispatch.
struct DispatchRecord {
  std::uint64_t submission = 0;  ///< SubmissionRecord::submission
  std::string submission_label;
  std::uint64_t replay = 0;    ///< SubmissionRecord::replay
  std::uint32_t dispatch = 0;  ///< node index in the command buffer that ran (Recording::node)
  std::string label;           ///< the dispatch label (may be empty)
  OpKind op = OpKind::Other;
  std::string kernel;  ///< the kernel's registered name
  Dim3 grid;
  Dim3 block;
  std::uint32_t shared_bytes = 0;
  /// Where it ran: the CPU worker (0 .. threads-1), or the CUDA stream in order of first use.
  std::uint32_t lane = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  /// When the dispatches it waited for had all ended (the latest of their end_ns), or its own
  /// start_ns when it waited for none or its submission's graph is unknown. Set by Profile.
  std::int64_t ready_ns = 0;

  std::int64_t duration_ns() const noexcept { return end_ns - start_ns; }
  /// What it added to its submission's critical path: end_ns - max(start_ns, ready_ns). Less
  /// than duration_ns() when it started before its inputs were ready: a CUDA kernel launched
  /// early by programmatic dependent launch spends the rest of its predecessor's run waiting
  /// (and loading weights) inside its own span, which duration_ns() counts.
  std::int64_t exposed_ns() const noexcept {
    const std::int64_t from = start_ns > ready_ns ? start_ns : ready_ns;
    return end_ns > from ? end_ns - from : 0;
  }
  /// The label, or the kernel name when the dispatch has none (the name in tables and traces,
  /// and, for labelled dispatches, of its NVTX range).
  std::string_view name() const noexcept { return label.empty() ? kernel : label; }
};

/// How summary rows are grouped.
enum class ProfileGroup : std::uint8_t {
  Label,       ///< DispatchRecord::name(): the label, or the kernel when unlabelled
  Op,          ///< the op kind
  Kernel,      ///< the kernel name
  Submission,  ///< submissions by command buffer label (durations of whole submissions)
};
/// "label", "op", "kernel", "submission".
std::string_view to_string(ProfileGroup group) noexcept;

/// One row of a summary table. Percentiles are nearest-rank: the smallest duration with at least
/// p% of the group's durations at or below it.
struct ProfileRow {
  std::string name;
  std::uint64_t count = 0;
  std::int64_t total_ns = 0;
  double mean_ns = 0;
  std::int64_t p50_ns = 0;
  std::int64_t p99_ns = 0;
  /// Sum of DispatchRecord::exposed_ns() (for Submission rows: total_ns).
  std::int64_t exposed_ns = 0;
  /// total_ns over the sum of every row's total_ns of the table (dispatch time for dispatch
  /// groups: the step's time when dispatches do not overlap; submission time for Submission).
  double share = 0;
};

/// A snapshot of profiling records with reports over them.
class Profile {
 public:
  Profile() = default;
  /// Records made elsewhere (tests, tools). Dispatch records name their submission by
  /// `submission`; each one's ready_ns is set from its submission's `graph`, from which the
  /// trace also draws dependency arrows.
  Profile(ProfileMode mode, std::vector<SubmissionRecord> submissions,
          std::vector<DispatchRecord> dispatches);

  /// The mode the records were made in (Off: no records).
  ProfileMode mode() const noexcept { return mode_; }
  /// Submissions in commit order.
  std::span<const SubmissionRecord> submissions() const noexcept { return submissions_; }
  /// Dispatch executions, by submission, then start time.
  std::span<const DispatchRecord> dispatches() const noexcept { return dispatches_; }

  /// Anything the reader should know: why per-dispatch profiling is unavailable, records the
  /// profiler could not attribute or that the driver dropped. Empty when there is nothing to say.
  const std::string& note() const noexcept { return note_; }
  /// Device and backend, for report headers and the trace ("cpu (4 threads)").
  const std::string& device_name() const noexcept { return device_name_; }
  BackendKind backend() const noexcept { return backend_; }
  void set_source(std::string device_name, BackendKind backend, std::string note);

  /// Summary rows, largest total first (ties by name).
  std::vector<ProfileRow> summary(ProfileGroup group) const;
  /// The rows as a fixed-width table: name, count, total, mean, mean exposed (dispatch
  /// groups), p50, p99, share. At most
  /// `max_rows` rows (0: all); the rest are summed into one "(N more)" row.
  std::string table(ProfileGroup group, std::size_t max_rows = 0) const;
  /// A header (device, mode, counts, note), then the tables by label, op kind and kernel (when
  /// there are dispatch records) and by submission label, each of at most `max_rows` rows.
  std::string report(std::size_t max_rows = 20) const;

  /// Chrome trace-event JSON (opens in Perfetto and chrome://tracing): one process per device, a
  /// track of submissions, one track per lane (a lane whose records overlap in time is split
  /// into sub-tracks), dispatches as complete ("X") events named by DispatchRecord::name() with
  /// everything else in args, and flow arrows ("s"/"f") from each dispatch to the dispatches
  /// that waited for it.
  std::string chrome_trace() const;
  /// Writes chrome_trace() to `path`. Throws Error(IoError) naming the path when it fails.
  void write_chrome_trace(const std::string& path) const;

 private:
  ProfileMode mode_ = ProfileMode::Off;
  std::vector<SubmissionRecord> submissions_;
  std::vector<DispatchRecord> dispatches_;
  std::string note_;
  std::string device_name_;
  BackendKind backend_ = BackendKind::Cpu;
};

}  // namespace encore
