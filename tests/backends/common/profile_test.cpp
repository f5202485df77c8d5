// Profiling on every backend (support/backend_test.h): off records nothing; per-submission mode
// records each command buffer; per-dispatch mode records every dispatch of every run, joined
// back to its label, op kind, kernel, launch shape and command buffer, with replays of a
// recording numbered separately; dispatch times nest inside their submission and respect the
// ordering; reset drops records; the trace of a real program parses; ENCORE_TRACE's file is
// written when the device closes.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::mentions;

class Profiling : public testing::BackendTest {
 protected:
  Device profiled(ProfileMode mode, std::string trace = {}) const {
    DeviceOptions o;
    o.profile = mode;
    o.trace_path = std::move(trace);
    return make_device(o);
  }
};

constexpr std::uint32_t kN = 256;

// A chain a -> b -> c -> b -> c of labelled copies and one scale with an op override: four
// dispatches, each depending on exactly the one before (auto_dag prunes the implied edges).
Recording record_chain(Device& dev, const Buffer& a, const Buffer& b, const Buffer& c) {
  Encoder enc = dev.encoder({.label = "chain"});
  const Kernel copy = dev.kernel("copy_f32");
  enc.dispatch(copy, cover(kN), {in(a), out(b), value(kN)}, {.label = "first"});
  enc.dispatch(copy, cover(kN), {in(b), out(c), value(kN)}, {.label = "second"});
  enc.dispatch(dev.kernel("scale_f32"), cover(kN), {in(c), out(b), value(2.0F), value(kN)},
               {.op = OpKind::RmsNorm, .label = "third"});
  enc.dispatch(copy, cover(kN), {in(b), out(c), value(kN)});  // unlabelled
  return enc.finish();
}

struct Buffers {
  Buffer a, b, c;
};
Buffers buffers(Device& dev) {
  return {dev.alloc(kN * 4, "a"), dev.alloc(kN * 4, "b"), dev.alloc(kN * 4, "c")};
}

// Off: no records, the note says profiling is off, and no profiling counter moves.
TEST_P(Profiling, OffRecordsNothing) {
  Device dev = make_device();
  Buffers x = buffers(dev);
  dev.submit(record_chain(dev, x.a, x.b, x.c)).wait();
  const Profile p = dev.profile();
  EXPECT_EQ(dev.profile_mode(), ProfileMode::Off);
  EXPECT_EQ(p.mode(), ProfileMode::Off);
  EXPECT_TRUE(p.submissions().empty());
  EXPECT_TRUE(p.dispatches().empty());
  EXPECT_TRUE(mentions(p.note(), "profiling is off")) << p.note();
  EXPECT_EQ(dev.stats().submissions_profiled, 0U);
}

// Per submission: one record per command buffer with its label, sequence, dispatch count and a
// positive time, no dispatch records.
TEST_P(Profiling, SubmissionModeRecordsEachCommandBuffer) {
  Device dev = profiled(ProfileMode::Submission);
  Buffers x = buffers(dev);
  Recording rec = record_chain(dev, x.a, x.b, x.c);
  Submission s1 = dev.submit(rec, "one");
  Submission s2 = dev.submit(rec, "two");
  dev.wait_idle();
  const Profile p = dev.profile();
  EXPECT_EQ(p.mode(), ProfileMode::Submission);
  ASSERT_EQ(p.submissions().size(), 2U);
  EXPECT_TRUE(p.dispatches().empty());
  const SubmissionRecord& first = p.submissions()[0];
  EXPECT_EQ(first.submission, s1.sequence());
  EXPECT_EQ(first.label, "one");
  EXPECT_EQ(first.dispatches, 4U);
  EXPECT_GT(first.device_ns, 0);
  EXPECT_GE(first.end_ns, first.start_ns);
  EXPECT_EQ(p.submissions()[1].submission, s2.sequence());
  // Submissions run in order: the second starts after the first ends.
  EXPECT_GE(p.submissions()[1].start_ns, first.end_ns);
  EXPECT_EQ(dev.stats().submissions_profiled, 2U);
}

// Per dispatch: every dispatch of the recording has a record carrying what was recorded.
TEST_P(Profiling, DispatchModeRecordsEveryDispatchWithWhatWasRecorded) {
  Device dev = profiled(ProfileMode::Dispatch);
  ASSERT_EQ(dev.profile_mode(), ProfileMode::Dispatch) << dev.profile_note();
  Buffers x = buffers(dev);
  Recording rec = record_chain(dev, x.a, x.b, x.c);
  const Submission s = dev.submit(rec, "step");
  s.wait();
  const Profile p = dev.profile();
  ASSERT_EQ(p.dispatches().size(), 4U) << p.note();
  std::map<std::uint32_t, const DispatchRecord*> by_index;
  for (const DispatchRecord& d : p.dispatches()) by_index[d.dispatch] = &d;
  ASSERT_EQ(by_index.size(), 4U);
  const DispatchRecord& third = *by_index[2];
  EXPECT_EQ(third.label, "third");
  EXPECT_EQ(third.op, OpKind::RmsNorm);  // the dispatch's own op kind, not the kernel's
  EXPECT_EQ(third.kernel, "scale_f32");
  EXPECT_EQ(third.grid, cover(kN).grid());
  EXPECT_EQ(third.block, cover(kN).block());
  EXPECT_EQ(third.submission, s.sequence());
  EXPECT_EQ(third.submission_label, "step");
  EXPECT_EQ(by_index[0]->op, OpKind::Copy);
  EXPECT_EQ(by_index[3]->label, "");
  EXPECT_EQ(by_index[3]->name(), "copy_f32");
  for (const DispatchRecord& d : p.dispatches()) {
    EXPECT_GT(d.duration_ns(), 0) << d.dispatch;
  }
  EXPECT_EQ(dev.stats().dispatches_profiled, 4U);
}

// A recording submitted three times has three runs of records, numbered 1, 2, 3; a commit's
// records have replay 0.
TEST_P(Profiling, ReplaysAreNumberedAndRecordedSeparately) {
  Device dev = profiled(ProfileMode::Dispatch);
  Buffers x = buffers(dev);
  Recording rec = record_chain(dev, x.a, x.b, x.c);
  for (int i = 0; i < 3; ++i) dev.submit(rec);
  Encoder enc = dev.encoder({.label = "commit"});
  enc.dispatch(dev.kernel("copy_f32"), cover(kN), {in(x.a), out(x.c), value(kN)});
  enc.commit();
  dev.wait_idle();
  const Profile p = dev.profile();
  ASSERT_EQ(p.submissions().size(), 4U);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p.submissions()[i].replay, i + 1);
  }
  EXPECT_EQ(p.submissions()[3].replay, 0U);
  std::map<std::uint64_t, std::vector<std::uint32_t>> dispatches_of_replay;
  for (const DispatchRecord& d : p.dispatches())
    dispatches_of_replay[d.replay].push_back(d.dispatch);
  ASSERT_EQ(dispatches_of_replay.size(), 4U) << p.note();
  for (std::uint64_t r = 1; r <= 3; ++r) {
    std::vector<std::uint32_t> got = dispatches_of_replay[r];
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::uint32_t>{0, 1, 2, 3})) << "replay " << r;
  }
  EXPECT_EQ(dispatches_of_replay[0].size(), 1U);
  EXPECT_EQ(dev.stats().dispatches_profiled, 13U);
}

// Dispatch times lie inside their submission's span, and a chain's dispatches run one after
// the other in the recorded order.
TEST_P(Profiling, DispatchTimesNestInTheirSubmissionAndFollowTheOrdering) {
  Device dev = profiled(ProfileMode::Dispatch);
  Buffers x = buffers(dev);
  dev.submit(record_chain(dev, x.a, x.b, x.c)).wait();
  const Profile p = dev.profile();
  ASSERT_EQ(p.submissions().size(), 1U);
  ASSERT_EQ(p.dispatches().size(), 4U);
  const SubmissionRecord& s = p.submissions()[0];
  std::vector<const DispatchRecord*> by_index(4);
  for (const DispatchRecord& d : p.dispatches()) by_index[d.dispatch] = &d;
  for (const DispatchRecord* d : by_index) {
    EXPECT_GE(d->start_ns, s.start_ns);
    EXPECT_LE(d->end_ns, s.end_ns);
  }
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_GE(by_index[i]->start_ns, by_index[i - 1]->end_ns) << "dispatch " << i;
  }
  // The graph the trace draws arrows from: each waits for the one before.
  ASSERT_NE(s.graph, nullptr);
  for (std::uint32_t i = 1; i < 4; ++i) {
    const auto w = s.graph->waits_of(i);
    EXPECT_EQ(std::vector<std::uint32_t>(w.begin(), w.end()), std::vector<std::uint32_t>{i - 1});
  }
}

// reset_profile drops what was recorded; later submissions are recorded again.
TEST_P(Profiling, ResetDropsRecords) {
  Device dev = profiled(ProfileMode::Dispatch);
  Buffers x = buffers(dev);
  Recording rec = record_chain(dev, x.a, x.b, x.c);
  dev.submit(rec).wait();
  dev.reset_profile();
  EXPECT_TRUE(dev.profile().dispatches().empty());
  EXPECT_TRUE(dev.profile().submissions().empty());
  dev.submit(rec).wait();
  const Profile p = dev.profile();
  EXPECT_EQ(p.submissions().size(), 1U);
  EXPECT_EQ(p.dispatches().size(), 4U);
  EXPECT_EQ(p.submissions()[0].replay, 2U);  // replay numbers keep counting
}

// The report of a real run has a row per label and the trace parses with the expected events.
TEST_P(Profiling, ReportAndTraceOfARealProgram) {
  Device dev = profiled(ProfileMode::Dispatch);
  Buffers x = buffers(dev);
  Recording rec = record_chain(dev, x.a, x.b, x.c);
  dev.submit(rec, "step").wait();
  dev.submit(rec, "step").wait();
  const Profile p = dev.profile();
  const std::string report = p.report();
  for (const char* part : {"first", "second", "third", "copy_f32", "RmsNorm", "step"}) {
    EXPECT_TRUE(mentions(report, part)) << report;
  }
  const nlohmann::json trace = nlohmann::json::parse(p.chrome_trace());
  std::map<std::string, int> count;
  for (const nlohmann::json& e : trace.at("traceEvents")) count[e.at("ph").get<std::string>()]++;
  EXPECT_EQ(count["X"], 2 + 8);
  EXPECT_EQ(count["s"], 2 * 3);  // three dependencies per run
  EXPECT_EQ(count["f"], 2 * 3);
}

// With a trace path, the device writes the trace when it closes.
TEST_P(Profiling, TracePathIsWrittenWhenTheDeviceCloses) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("encore_close_trace_" + std::to_string(::getpid()) +
                                                "_" + std::string(to_string(backend())) + ".json");
  std::filesystem::remove(path);
  {
    Device dev = profiled(ProfileMode::Dispatch, path.string());
    Buffers x = buffers(dev);
    dev.submit(record_chain(dev, x.a, x.b, x.c), "closing");
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  const nlohmann::json trace = nlohmann::json::parse(in);
  int dispatches = 0;
  for (const nlohmann::json& e : trace.at("traceEvents")) {
    if (e.at("ph") == "X" && e.at("tid") != 0) ++dispatches;
  }
  EXPECT_EQ(dispatches, 4);
  std::filesystem::remove(path);
}

// A trace path without profiling is refused when the device opens.
TEST_P(Profiling, TracePathNeedsProfiling) {
  const Error e = testing::error_from([&] { (void)profiled(ProfileMode::Off, "x.json"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "x.json")) << e.what();
}

ENCORE_INSTANTIATE_BACKEND_SUITE(Profiling);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
