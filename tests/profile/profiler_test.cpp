// The per-device record store on its own: submissions joined with dispatch timings that arrive
// with them or later (kept until their submission finishes), replay numbering per recording,
// spans taken from dispatches when a backend's clocks differ, timings that cannot be placed,
// and reset.

#include "profile/profiler.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <vector>

#include "encore/encore.h"

#include "core/stats_counters.h"
#include "core/submission_state.h"
#include "support/test_support.h"

namespace encore::detail {
namespace {
namespace ENCORE_TEST_FILE {

using testing::mentions;

// Two dispatches (a copy, then a scale reading its output), labelled.
Recording two_dispatches(Device& dev) {
  Buffer a = dev.alloc(64), b = dev.alloc(64);
  Encoder enc = dev.encoder({.label = "rec"});
  enc.dispatch(dev.kernel("copy_f32"), testing::cover(16), {in(a), out(b), value(16U)},
               {.label = "copy"});
  enc.dispatch(dev.kernel("scale_f32"), testing::cover(16),
               {in(b), out(a), value(2.0F), value(16U)}, {.label = "scale"});
  return enc.finish();
}

class ProfilerTest : public ::testing::Test {
 protected:
  // What a backend hands the profiler for submission `sequence` of `rec`.
  const SubmissionState& submission_of(const Recording& rec, std::uint64_t sequence, bool replay) {
    auto s = std::make_unique<SubmissionState>();
    s->sequence = sequence;
    s->label = "s" + std::to_string(sequence);
    s->replay = replay;
    s->commands = rec.shared_commands();
    states_.push_back(std::move(s));
    return *states_.back();
  }

  Device dev = testing::make_cpu_device();
  StatsCounters counters;
  Profiler profiler{ProfileMode::Dispatch, counters};
  std::vector<std::unique_ptr<SubmissionState>> states_;
};

// Timings handed over with the submission are joined to its dispatches' recorded facts.
TEST_F(ProfilerTest, JoinsTimingsWithTheRecordedFacts) {
  const Recording rec = two_dispatches(dev);
  const RawDispatch timings[] = {{1, 0, 0, 100, 200}, {1, 1, 1, 250, 400}};
  profiler.add_submission(submission_of(rec, 1, true), 90, 410, 320, false, timings);
  const Profile p = profiler.snapshot("dev", BackendKind::Cpu);
  ASSERT_EQ(p.submissions().size(), 1U);
  EXPECT_EQ(p.submissions()[0].replay, 1U);
  EXPECT_EQ(p.submissions()[0].dispatches, 2U);
  EXPECT_EQ(p.submissions()[0].device_ns, 320);
  ASSERT_EQ(p.dispatches().size(), 2U);
  EXPECT_EQ(p.dispatches()[0].label, "copy");
  EXPECT_EQ(p.dispatches()[0].op, OpKind::Copy);
  EXPECT_EQ(p.dispatches()[1].label, "scale");
  EXPECT_EQ(p.dispatches()[1].kernel, "scale_f32");
  EXPECT_EQ(p.dispatches()[1].lane, 1U);
  EXPECT_EQ(p.dispatches()[1].submission_label, "s1");
  EXPECT_EQ(counters.submissions_profiled.load(), 1U);
  EXPECT_EQ(counters.dispatches_profiled.load(), 2U);
}

// Timings that arrive before their submission finished wait for it; each submission of a
// recording gets the next replay number, a commit gets 0.
TEST_F(ProfilerTest, EarlyTimingsWaitForTheirSubmission) {
  const Recording rec = two_dispatches(dev);
  const RawDispatch early[] = {{2, 0, 0, 10, 20}};
  profiler.add_dispatches(early);
  profiler.add_submission(submission_of(rec, 1, true), 0, 5, 5, false);
  EXPECT_EQ(profiler.snapshot("dev", BackendKind::Cuda).dispatches().size(), 0U);
  profiler.add_submission(submission_of(rec, 2, true), 6, 30, 24, false);
  profiler.add_submission(submission_of(rec, 3, false), 31, 40, 9, false);
  const Profile p = profiler.snapshot("dev", BackendKind::Cuda);
  ASSERT_EQ(p.dispatches().size(), 1U);
  EXPECT_EQ(p.dispatches()[0].submission, 2U);
  EXPECT_EQ(p.dispatches()[0].replay, 2U);
  ASSERT_EQ(p.submissions().size(), 3U);
  EXPECT_EQ(p.submissions()[2].replay, 0U);
}

// With spans taken from dispatches, a submission spans its first start to its last end, and
// one without timings has no span.
TEST_F(ProfilerTest, SpansFromDispatchesWhenClocksDiffer) {
  profiler.take_spans_from_dispatches();
  const Recording rec = two_dispatches(dev);
  const RawDispatch timings[] = {{1, 1, 0, 700, 900}, {1, 0, 0, 500, 650}};
  profiler.add_submission(submission_of(rec, 1, true), 1, 2, 400, false, timings);
  profiler.add_submission(submission_of(rec, 2, true), 3, 4, 400, false);
  const Profile p = profiler.snapshot("dev", BackendKind::Cuda);
  EXPECT_EQ(p.submissions()[0].start_ns, 500);
  EXPECT_EQ(p.submissions()[0].end_ns, 900);
  EXPECT_EQ(p.submissions()[1].duration_ns(), 0);
  EXPECT_EQ(p.dispatches()[0].dispatch, 0U);  // ordered by start
}

// Timings naming a node that is not a dispatch of their list, and counts the backend could not
// place, are reported in the note and counted.
TEST_F(ProfilerTest, UnplaceableTimingsAreReportedInTheNote) {
  const Recording rec = two_dispatches(dev);
  const RawDispatch wrong[] = {{1, 7, 0, 1, 2}};
  profiler.add_submission(submission_of(rec, 1, true), 0, 5, 5, false, wrong);
  profiler.add_unattributed(2, 3, 4);
  const Profile p = profiler.snapshot("dev", BackendKind::Cuda);
  EXPECT_TRUE(p.dispatches().empty());
  EXPECT_TRUE(mentions(p.note(), "3 dispatch timings could not be joined")) << p.note();
  EXPECT_TRUE(mentions(p.note(), "3 timings were dropped")) << p.note();
  EXPECT_TRUE(mentions(p.note(), "4 kernel timings of this process")) << p.note();
  EXPECT_EQ(counters.profile_records_unattributed.load(), 9U);
}

// A downgrade changes the mode in effect and its reason leads the note; reset drops records
// and restarts the clock (a new generation) but replay numbers continue.
TEST_F(ProfilerTest, DowngradeAndReset) {
  profiler.downgrade(ProfileMode::Submission, "no CUPTI here");
  EXPECT_EQ(profiler.mode(), ProfileMode::Submission);
  EXPECT_FALSE(profiler.per_dispatch());
  const Recording rec = two_dispatches(dev);
  profiler.add_submission(submission_of(rec, 1, true), 0, 5, 5, false);
  const std::uint64_t generation = profiler.generation();
  profiler.reset();
  EXPECT_NE(profiler.generation(), generation);
  EXPECT_LT(profiler.now_ns(), 1'000'000'000);
  Profile p = profiler.snapshot("dev", BackendKind::Cuda);
  EXPECT_TRUE(p.submissions().empty());
  EXPECT_EQ(p.note(), "no CUPTI here");
  profiler.add_submission(submission_of(rec, 2, true), 0, 5, 5, false);
  p = profiler.snapshot("dev", BackendKind::Cuda);
  EXPECT_EQ(p.submissions()[0].replay, 2U);
}

// A submission recorded out of order (one that failed while launching, before an earlier one
// finished) still gets its own timings.
TEST_F(ProfilerTest, SubmissionsRecordedOutOfOrderStillJoin) {
  const Recording rec = two_dispatches(dev);
  const RawDispatch timings[] = {{1, 0, 0, 10, 20}, {1, 1, 0, 20, 30}};
  profiler.add_submission(submission_of(rec, 2, false), 0, 0, 0, true);
  profiler.add_submission(submission_of(rec, 1, false), 5, 35, 30, false, timings);
  const Profile p = profiler.snapshot("dev", BackendKind::Cuda);
  ASSERT_EQ(p.submissions().size(), 2U);
  EXPECT_EQ(p.submissions()[0].submission, 1U);
  EXPECT_EQ(p.dispatches().size(), 2U);
}

// A failed submission keeps its label but no times.
TEST_F(ProfilerTest, FailedSubmissionHasNoTimes) {
  const Recording rec = two_dispatches(dev);
  profiler.add_submission(submission_of(rec, 1, false), 10, 20, 10, true);
  const Profile p = profiler.snapshot("dev", BackendKind::Cpu);
  ASSERT_EQ(p.submissions().size(), 1U);
  EXPECT_TRUE(p.submissions()[0].failed);
  EXPECT_EQ(p.submissions()[0].label, "s1");
  EXPECT_EQ(p.submissions()[0].device_ns, 0);
  EXPECT_EQ(p.submissions()[0].end_ns, 0);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::detail
