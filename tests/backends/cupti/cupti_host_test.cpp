// The host side of CUDA per-dispatch profiling, which needs no GPU: finding and loading CUPTI
// (the toolkit's libcupti loads without a driver), the sink that turns kernel records into
// profile records, the table that joins kernel records to tagged launches (runtime and driver
// callbacks of one launch, graph node ids, records that cannot be attributed), the thread-local
// tags, and the fallback to per-submission profiling when CUPTI cannot be loaded.

#include <cstdint>
#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "encore/encore.h"

#include "backends/cuda/cuda_profiling.h"
#include "backends/cuda/cupti_library.h"
#include "backends/cuda/cupti_session.h"
#include "core/stats_counters.h"
#include "profile/profiler.h"
#include "support/test_support.h"

#ifndef ENCORE_CUDA_TOOLKIT_ROOT
#define ENCORE_CUDA_TOOLKIT_ROOT ""
#endif

namespace encore::detail {
namespace {
namespace ENCORE_TEST_FILE {

using testing::mentions;

// ---- loading ------------------------------------------------------------------------------

// An explicit library is the only candidate; otherwise the loader's names come first, then the
// CUDA_HOME and toolkit directories.
TEST(CuptiLoading, CandidatesFollowTheDocumentedOrder) {
  EXPECT_EQ(cupti_candidates("/x/libcupti.so", "/home", "/tk"),
            std::vector<std::string>{"/x/libcupti.so"});
  const std::vector<std::string> c = cupti_candidates("", "/home", "/tk");
  ASSERT_GE(c.size(), 4U);
  EXPECT_EQ(c[0], "libcupti.so.13");
  EXPECT_EQ(c[1], "libcupti.so");
  EXPECT_EQ(c[2], "/home/extras/CUPTI/lib64/libcupti.so.13");
  EXPECT_NE(std::find(c.begin(), c.end(), "/tk/lib64/libcupti.so.13"), c.end());
  EXPECT_EQ(cupti_candidates("", "", "").size(), 2U);
}

// When nothing loads, the reason lists every path tried and why it failed.
TEST(CuptiLoading, FailureNamesEveryPathTried) {
  CuptiLibrary lib;
  std::string why;
  EXPECT_FALSE(
      load_cupti({"/nonexistent/a/libcupti.so.13", "/nonexistent/b/libcupti.so"}, lib, why));
  EXPECT_TRUE(mentions(why, "/nonexistent/a/libcupti.so.13")) << why;
  EXPECT_TRUE(mentions(why, "/nonexistent/b/libcupti.so")) << why;
}

// A library that is not CUPTI is refused with what it lacks.
TEST(CuptiLoading, ALibraryWithoutCuptiIsRefused) {
  CuptiLibrary lib;
  std::string why;
  EXPECT_FALSE(load_cupti({"libm.so.6"}, lib, why));
  EXPECT_TRUE(mentions(why, "libm.so.6: lacks cuptiGetVersion")) << why;
}

// The toolkit's own CUPTI loads (no driver needed), resolves every function and is version 13.
TEST(CuptiLoading, TheToolkitsCuptiLoads) {
  const std::vector<std::string> candidates = cupti_candidates("", "", ENCORE_CUDA_TOOLKIT_ROOT);
  std::vector<std::string> present;
  for (std::size_t i = 2; i < candidates.size(); ++i) {
    if (std::filesystem::exists(candidates[i])) present.push_back(candidates[i]);
  }
  if (present.empty()) GTEST_SKIP() << "no libcupti under " << ENCORE_CUDA_TOOLKIT_ROOT;
  CuptiLibrary lib;
  std::string why;
  ASSERT_TRUE(load_cupti(present, lib, why)) << why;
  EXPECT_EQ(lib.version / 10000, 13U);
  EXPECT_EQ(lib.path, present.front());
  EXPECT_NE(lib.flush_all, nullptr);
  EXPECT_NE(lib.graph_node_id, nullptr);
  EXPECT_FALSE(lib.describe(CUPTI_ERROR_INVALID_PARAMETER).empty());
}

// ---- sink ---------------------------------------------------------------------------------

// Kernel times are moved onto the profile clock (minus the epoch), streams become lanes in
// order of first use, drain takes everything, reset restarts the clock and keeps the lanes.
TEST(CuptiSinkTest, MapsClockAndStreamsAndDrains) {
  CuptiSink sink(1'000);
  sink.add(4, 2, 77, 1'500, 1'700);
  sink.add(4, 3, 12, 1'800, 2'000);
  sink.add(5, 0, 77, 2'100, 2'200);
  sink.add_unattributed(2);
  sink.add_dropped(3);
  CuptiSink::Drained d = sink.drain();
  ASSERT_EQ(d.records.size(), 3U);
  EXPECT_EQ(d.records[0].submission, 4U);
  EXPECT_EQ(d.records[0].node, 2U);
  EXPECT_EQ(d.records[0].lane, 0U);
  EXPECT_EQ(d.records[0].start_ns, 500);
  EXPECT_EQ(d.records[0].end_ns, 700);
  EXPECT_EQ(d.records[1].lane, 1U);
  EXPECT_EQ(d.records[2].lane, 0U);
  EXPECT_EQ(d.unattributed, 2U);
  EXPECT_EQ(d.dropped, 3U);
  EXPECT_TRUE(sink.drain().records.empty());

  sink.add(6, 1, 12, 2'500, 2'600);
  sink.reset(2'000);
  EXPECT_TRUE(sink.drain().records.empty());
  sink.add(7, 1, 12, 2'500, 2'600);
  d = sink.drain();
  ASSERT_EQ(d.records.size(), 1U);
  EXPECT_EQ(d.records[0].start_ns, 500);
  EXPECT_EQ(d.records[0].lane, 1U);
}

// ---- launch table -------------------------------------------------------------------------

// A stream-path launch seen by both the runtime and the driver callback is one launch: its
// kernel record (with either id) lands on the tagged dispatch, and both ids are then forgotten.
TEST(LaunchTableTest, RuntimeAndDriverIdsOfOneLaunchShareOneEntry) {
  CuptiSink sink(0);
  LaunchTable table;
  table.attach(sink);
  {
    LaunchTag tag(sink, 9);
    tag.next_dispatch(3);
    table.on_launch(tag, 100);  // runtime
    table.on_launch(tag, 101);  // driver, inside it
    tag.next_dispatch(4);
    table.on_launch(tag, 102);
  }
  EXPECT_EQ(table.pending(), 2U);
  EXPECT_TRUE(table.deliver(101, 0, 5, 10, 20));
  EXPECT_FALSE(table.deliver(100, 0, 5, 10, 20)) << "the launch already reported its kernel";
  EXPECT_TRUE(table.deliver(102, 0, 5, 30, 40));
  EXPECT_EQ(table.pending(), 0U);
  const CuptiSink::Drained d = sink.drain();
  ASSERT_EQ(d.records.size(), 2U);
  EXPECT_EQ(d.records[0].submission, 9U);
  EXPECT_EQ(d.records[0].node, 3U);
  EXPECT_EQ(d.records[1].node, 4U);
}

// A graph launch: its kernels share the correlation id and are placed by their executable node
// id; an unknown node id is unattributed; the entry goes once every kernel reported.
TEST(LaunchTableTest, GraphKernelsArePlacedByExecutableNodeId) {
  CuptiSink sink(0);
  LaunchTable table;
  table.attach(sink);
  auto nodes = std::make_shared<GraphNodeMap>(GraphNodeMap{{5001, 0}, {5003, 2}, {5004, 3}});
  {
    LaunchTag tag(sink, 12, nodes, 3);
    table.on_launch(tag, 300);
  }
  EXPECT_TRUE(table.deliver(300, 5003, 1, 100, 200));
  EXPECT_TRUE(table.deliver(300, 9999, 1, 200, 300));  // a node CUPTI did not report cloning
  EXPECT_EQ(table.pending(), 1U);
  EXPECT_TRUE(table.deliver(300, 5001, 1, 0, 0));  // no timestamps: unattributed
  EXPECT_EQ(table.pending(), 0U);
  const CuptiSink::Drained d = sink.drain();
  ASSERT_EQ(d.records.size(), 1U);
  EXPECT_EQ(d.records[0].node, 2U);
  EXPECT_EQ(d.records[0].submission, 12U);
  EXPECT_EQ(d.unattributed, 2U);
}

// A graph launch with collectives: their kernels (inside child graphs, no reported node id) are
// held until the launch is complete, then go in order of start to the collectives in order; when
// their number is not the one expected they are unattributed instead of misplaced.
TEST(LaunchTableTest, CollectiveKernelsArePlacedInOrderOnceTheLaunchIsComplete) {
  CuptiSink sink(0);
  LaunchTable table;
  table.attach(sink);
  auto nodes = std::make_shared<GraphNodeMap>(GraphNodeMap{{5000, 0}, {5002, 2}, {5004, 4}});
  auto in_order = std::make_shared<KernelOrder>(KernelOrder{1, 3});
  for (std::uint64_t sequence : {1U, 2U}) {
    LaunchTag tag(sink, sequence, nodes, 5, in_order);
    table.on_launch(tag, static_cast<std::uint32_t>(400 + sequence));
  }
  // Launch 1: every kernel, the collectives' out of order.
  EXPECT_TRUE(table.deliver(401, 7003, 1, 300, 400));
  EXPECT_TRUE(table.deliver(401, 5000, 1, 100, 150));
  EXPECT_TRUE(table.deliver(401, 7001, 1, 160, 250));
  EXPECT_TRUE(sink.drain().records.size() == 1U) << "collective kernels wait for the launch";
  EXPECT_TRUE(table.deliver(401, 5002, 1, 260, 290));
  EXPECT_TRUE(table.deliver(401, 5004, 1, 410, 420));
  CuptiSink::Drained d = sink.drain();
  std::map<std::uint32_t, std::int64_t> start_of;
  for (const RawDispatch& r : d.records) start_of[r.node] = r.start_ns;
  EXPECT_EQ(start_of,
            (std::map<std::uint32_t, std::int64_t>{{1, 160}, {2, 260}, {3, 300}, {4, 410}}));
  // Launch 2: one collective kernel too many.
  for (std::uint64_t id : {7001U, 7003U, 7005U}) EXPECT_TRUE(table.deliver(402, id, 1, 10, 20));
  EXPECT_TRUE(table.deliver(402, 5000, 1, 1, 2));
  EXPECT_TRUE(table.deliver(402, 5002, 1, 3, 4));
  d = sink.drain();
  EXPECT_EQ(d.records.size(), 2U);
  EXPECT_EQ(d.unattributed, 3U);
  EXPECT_EQ(table.pending(), 0U);
}

// Kernels nobody tagged are not this device's: deliver says so, records nothing, and every
// attached sink counts one foreign kernel (a correlation failure would show there).
TEST(LaunchTableTest, UntaggedKernelsAreCountedAsForeign) {
  CuptiSink sink(0);
  LaunchTable table;
  table.attach(sink);
  EXPECT_FALSE(table.deliver(42, 0, 0, 1, 2));
  const CuptiSink::Drained d = sink.drain();
  EXPECT_TRUE(d.records.empty());
  EXPECT_EQ(d.unattributed, 0U);
  EXPECT_EQ(d.foreign, 1U);
}

// Detaching a sink forgets its pending launches (their records would have nowhere to go), and
// dropped-record counts reach only attached sinks.
TEST(LaunchTableTest, DetachForgetsPendingLaunches) {
  CuptiSink kept(0);
  CuptiSink gone(0);
  LaunchTable table;
  table.attach(kept);
  table.attach(gone);
  {
    LaunchTag a(kept, 1);
    table.on_launch(a, 1);
  }
  {
    LaunchTag b(gone, 1);
    table.on_launch(b, 2);
  }
  table.detach(gone);
  EXPECT_EQ(table.pending(), 1U);
  EXPECT_FALSE(table.deliver(2, 0, 0, 1, 2));
  table.dropped(5);
  EXPECT_EQ(kept.drain().dropped, 5U);
  EXPECT_EQ(gone.drain().dropped, 0U);
}

// A collective of the stream path whose kernel NCCL launches from a thread of its own: the
// untagged launches on each stream meet that stream's expectations in order (a driver call
// nested in a runtime call is the same launch), so their records land on the collectives; an
// untagged launch nothing expected stays foreign.
TEST(LaunchTableTest, UntaggedLaunchesMeetTheExpectationsOfTheirStream) {
  CuptiSink sink(0);
  LaunchTable table;
  table.attach(sink);
  int stream_a = 0;
  int stream_b = 0;
  {
    LaunchTag tag(sink, 7);
    tag.next_dispatch(2);
    table.expect(tag, &stream_a);
    tag.next_dispatch(3);
    table.expect(tag, &stream_b);
  }
  std::thread nccl([&] {
    EXPECT_TRUE(table.on_untagged_launch(&stream_b, 500, false));  // runtime
    EXPECT_TRUE(table.on_untagged_launch(&stream_b, 501, true));   // its driver call
    EXPECT_TRUE(table.on_untagged_launch(&stream_a, 502, false));
    EXPECT_TRUE(table.on_untagged_launch(&stream_a, 503, true));
    EXPECT_FALSE(table.on_untagged_launch(&stream_a, 504, false));  // nothing expected it
    EXPECT_FALSE(table.on_untagged_launch(&stream_a, 505, true));
  });
  nccl.join();
  EXPECT_EQ(table.pending(), 2U);
  EXPECT_TRUE(table.deliver(501, 0, 9, 10, 20));
  EXPECT_FALSE(table.deliver(500, 0, 9, 10, 20)) << "the launch already reported its kernel";
  EXPECT_TRUE(table.deliver(502, 0, 9, 30, 40));
  EXPECT_FALSE(table.deliver(504, 0, 9, 50, 60));
  const CuptiSink::Drained d = sink.drain();
  ASSERT_EQ(d.records.size(), 2U);
  EXPECT_EQ(d.records[0].submission, 7U);
  EXPECT_EQ(d.records[0].node, 3U);
  EXPECT_EQ(d.records[1].node, 2U);
  EXPECT_EQ(d.foreign, 2U);  // 500's second report and 504
}

// When the collective's kernel is launched on the tagging thread after all, that launch meets
// the expectation: a later untagged launch on the stream is not taken for it. Detaching a sink
// forgets its expectations.
TEST(LaunchTableTest, ExpectationsAreMetOnceAndForgottenOnDetach) {
  CuptiSink sink(0);
  CuptiSink gone(0);
  LaunchTable table;
  table.attach(sink);
  table.attach(gone);
  int stream = 0;
  {
    LaunchTag tag(sink, 4);
    tag.next_dispatch(1);
    table.expect(tag, &stream);
    table.on_launch(tag, 600);
  }
  {
    LaunchTag tag(gone, 5);
    tag.next_dispatch(8);
    table.expect(tag, &stream);
  }
  table.detach(gone);
  std::thread other([&] { EXPECT_FALSE(table.on_untagged_launch(&stream, 601, false)); });
  other.join();
  EXPECT_TRUE(table.deliver(600, 0, 1, 10, 20));
  const CuptiSink::Drained d = sink.drain();
  ASSERT_EQ(d.records.size(), 1U);
  EXPECT_EQ(d.records[0].node, 1U);
}

// ---- tags ---------------------------------------------------------------------------------

// Tags and clone captures are per thread and nest: the innermost is current, the outer one
// comes back when it ends.
TEST(LaunchTagTest, TagsAndCapturesNestPerThread) {
  CuptiSink sink(0);
  EXPECT_EQ(LaunchTag::current(), nullptr);
  {
    LaunchTag outer(sink, 1);
    EXPECT_EQ(LaunchTag::current(), &outer);
    {
      LaunchTag inner(sink, 2);
      EXPECT_EQ(LaunchTag::current(), &inner);
    }
    EXPECT_EQ(LaunchTag::current(), &outer);
  }
  EXPECT_EQ(LaunchTag::current(), nullptr);
  CloneCapture capture;
  {
    ScopedCloneCapture scope(capture);
    EXPECT_EQ(ScopedCloneCapture::current(), &capture);
  }
  EXPECT_EQ(ScopedCloneCapture::current(), nullptr);
}

// ---- fallback -----------------------------------------------------------------------------

// When CUPTI cannot be loaded, a per-dispatch profiler is downgraded to per-submission with
// the reason, which names the library tried.
TEST(CudaProfilingFallback, UnloadableCuptiDowngradesToPerSubmission) {
  if (CuptiSession::loaded()) GTEST_SKIP() << "CUPTI is already loaded in this process";
  StatsCounters counters;
  Profiler profiler(ProfileMode::Dispatch, counters);
  DeviceOptions options;
  options.cupti_library = "/nonexistent/encore/libcupti.so.13";
  const CudaProfiling profiling(options, profiler);
  EXPECT_FALSE(profiling.per_dispatch());
  EXPECT_EQ(profiler.mode(), ProfileMode::Submission);
  EXPECT_TRUE(mentions(profiler.note(), "/nonexistent/encore/libcupti.so.13")) << profiler.note();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::detail
