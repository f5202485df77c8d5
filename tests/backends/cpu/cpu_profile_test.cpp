// Profiling on the CPU backend: a dispatch's lane is the worker (team slot) that ran it, so
// dispatches that overlap in time have different lanes and one thread means one lane; a failed
// submission is recorded as failed without dispatch records; a snapshot never waits for running
// work; validation and shuffled schedules are profiled too.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::ConcurrencyProbe;
using testing::cover;
using testing::Gate;
using testing::GateOpener;
using testing::make_cpu_device;
using testing::make_test_registry;

const Launch kOneThread = Launch::groups(1, 1);

DeviceOptions profiling(std::uint32_t threads) {
  DeviceOptions o;
  o.cpu_threads = threads;
  o.profile = ProfileMode::Dispatch;
  return o;
}

// Four independent 20 ms dispatches on four workers run at once: their records overlap, each on
// its own lane, every lane below the thread count.
TEST(CpuProfile, ConcurrentDispatchesRunOnDistinctLanes) {
  auto probe = std::make_shared<ConcurrencyProbe>();
  Device dev = make_cpu_device(profiling(4), make_test_registry(nullptr, probe));
  Encoder enc = dev.encoder();
  std::vector<Buffer> buffers;
  for (int i = 0; i < 4; ++i) buffers.push_back(dev.alloc(16));
  for (const Buffer& b : buffers) enc.dispatch(dev.kernel("probe_kernel"), kOneThread, {inout(b)});
  enc.commit_and_wait();
  const Profile p = dev.profile();
  ASSERT_EQ(p.dispatches().size(), 4U);
  std::set<std::uint32_t> lanes;
  for (const DispatchRecord& d : p.dispatches()) {
    EXPECT_LT(d.lane, 4U);
    EXPECT_GE(d.duration_ns(), 15'000'000) << "probe_kernel sleeps 20 ms";
    lanes.insert(d.lane);
  }
  // Dispatches running at the same time need as many workers.
  EXPECT_GE(lanes.size(), static_cast<std::size_t>(probe->max_running.load()));
  EXPECT_GE(lanes.size(), 2U);
  // A lane runs one dispatch at a time.
  for (const DispatchRecord& a : p.dispatches()) {
    for (const DispatchRecord& b : p.dispatches()) {
      if (&a == &b || a.lane != b.lane) continue;
      EXPECT_TRUE(a.end_ns <= b.start_ns || b.end_ns <= a.start_ns);
    }
  }
}

// One worker thread: one lane.
TEST(CpuProfile, OneThreadIsOneLane) {
  Device dev = make_cpu_device(profiling(1));
  Buffer a = dev.alloc(64), b = dev.alloc(64);
  Encoder enc = dev.encoder();
  for (int i = 0; i < 6; ++i) {
    enc.dispatch(dev.kernel("copy_f32"), cover(16), {in(a), out(i % 2 ? a : b), value(16U)});
  }
  enc.commit_and_wait();
  const Profile p = dev.profile();
  ASSERT_EQ(p.dispatches().size(), 6U);
  for (const DispatchRecord& d : p.dispatches()) {
    EXPECT_EQ(d.lane, 0U);
  }
}

// A failing submission is recorded as failed with no times and no dispatch records; the next
// one is recorded normally.
TEST(CpuProfile, FailedSubmissionIsRecordedAsFailed) {
  Device dev = make_cpu_device(profiling(2));
  Buffer x = dev.alloc(16);
  Encoder bad = dev.encoder({.label = "bad"});
  bad.dispatch(dev.kernel("fail_kernel"), kOneThread, {in(x)});
  EXPECT_THROW(bad.commit_and_wait(), Error);
  Encoder good = dev.encoder({.label = "good"});
  good.dispatch(dev.kernel("copy_f32"), cover(4), {in(x), out(dev.alloc(16)), value(4U)});
  good.commit_and_wait();
  const Profile p = dev.profile();
  ASSERT_EQ(p.submissions().size(), 2U);
  EXPECT_TRUE(p.submissions()[0].failed);
  EXPECT_EQ(p.submissions()[0].label, "bad");
  EXPECT_EQ(p.submissions()[0].duration_ns(), 0);
  EXPECT_FALSE(p.submissions()[1].failed);
  ASSERT_EQ(p.dispatches().size(), 1U);
  EXPECT_EQ(p.dispatches()[0].submission_label, "good");
  // The submission table leaves the failure out.
  const auto rows = p.summary(ProfileGroup::Submission);
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0].name, "good");
}

// profile() returns at once while a submission is held in flight, without it; once it
// finishes, it is there.
TEST(CpuProfile, SnapshotDoesNotWaitForRunningWork) {
  auto gate = std::make_shared<Gate>();
  GateOpener opener{gate};
  Device dev = make_cpu_device(profiling(2), make_test_registry(gate));
  Buffer g = dev.alloc(16);
  Encoder enc = dev.encoder({.label = "held"});
  enc.dispatch(dev.kernel("gate_kernel"), kOneThread, {inout(g)});
  const Submission s = enc.commit();
  gate->wait_for_arrivals(1);
  EXPECT_TRUE(dev.profile().submissions().empty());
  gate->open();
  s.wait();
  EXPECT_EQ(dev.profile().submissions().size(), 1U);
  EXPECT_EQ(dev.profile().dispatches().size(), 1U);
}

// Validation mode (one dispatch at a time) and shuffled schedules record every dispatch.
TEST(CpuProfile, ValidationAndShuffledSchedulesAreProfiled) {
  for (bool validate : {true, false}) {
    DeviceOptions o = profiling(3);
    o.validate = validate;
    o.shuffle_seed = validate ? std::nullopt : std::optional<std::uint64_t>(42);
    Device dev = make_cpu_device(o);
    Buffer a = dev.alloc(64), b = dev.alloc(64), c = dev.alloc(64);
    Encoder enc = dev.encoder();
    enc.dispatch(dev.kernel("copy_f32"), cover(16), {in(a), out(b), value(16U)});
    enc.dispatch(dev.kernel("copy_f32"), cover(16), {in(a), out(c), value(16U)});
    enc.dispatch(dev.kernel("add_f32"), cover(16), {in(b), in(c), out(a), value(16U)});
    enc.commit_and_wait();
    const Profile p = dev.profile();
    ASSERT_EQ(p.dispatches().size(), 3U) << (validate ? "validate" : "shuffle");
    const auto last = std::find_if(p.dispatches().begin(), p.dispatches().end(),
                                   [](const DispatchRecord& d) { return d.dispatch == 2; });
    ASSERT_NE(last, p.dispatches().end());
    for (const DispatchRecord& d : p.dispatches()) {
      if (d.dispatch != 2) {
        EXPECT_LE(d.end_ns, last->start_ns);
      }
    }
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
