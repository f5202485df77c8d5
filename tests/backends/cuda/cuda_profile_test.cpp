// Per-dispatch GPU times on a real device (label gpu; skipped where no CUDA device opens):
// CUPTI kernel records are joined back to their dispatches inside graphs (a 5000-dispatch graph,
// beyond the 2048 the Metal original could time, on every replay), on both stream paths, after
// patched replays and on two devices at once; per-dispatch times of a serial chain of busy
// kernels add up to the submission's event-timed GPU time; without CUPTI the device profiles
// per submission and says why.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "backends/cuda/cuda_test_kernels.h"
#include "backends/cuda/cupti_session.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::mentions;

std::shared_ptr<KernelRegistry> profile_registry() {
  auto r = KernelRegistry::create();
  r->add({.name = "increment_f32",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("n")},
          .cuda = testing::cuda_increment_kernel()});
  r->add({.name = "spin_then_stamp",
          .params = {Param::out("t"), Param::value<std::uint64_t>("cycles")},
          .op = OpKind::Reduce,
          .cuda = testing::cuda_spin_then_stamp_kernel()});
  return r;
}

// Opens a CUDA device with `options` (on the test registry) or skips the test.
#define OPEN_PROFILED_OR_SKIP(dev, options)               \
  Device dev{nullptr};                                    \
  try {                                                   \
    DeviceOptions open_options_ = (options);              \
    open_options_.backend = BackendKind::Cuda;            \
    open_options_.registry = profile_registry();          \
    dev = Device::open(open_options_);                    \
  } catch (const Error& e) {                              \
    if (e.code() != ErrorCode::BackendUnavailable) throw; \
    GTEST_SKIP() << e.what();                             \
  }

DeviceOptions dispatch_mode(ExecutionPath path = ExecutionPath::Graph) {
  DeviceOptions o;
  o.profile = ProfileMode::Dispatch;
  o.path = path;
  return o;
}

// `n` increments of x, each a labelled dispatch depending on the one before.
Recording increments(Device& dev, const Buffer& x, int n, const std::string& label = "inc") {
  Encoder enc = dev.encoder({.label = label});
  const Kernel inc = dev.kernel("increment_f32");
  for (int i = 0; i < n; ++i) {
    enc.dispatch(inc, Launch::groups(1, 32), {inout(x), value(32U)},
                 {.label = label + "." + std::to_string(i)});
  }
  return enc.finish();
}

// A 5000-dispatch graph replayed three times: 5000 records per replay, each dispatch once, with
// its own label and kernel, and nothing unattributed.
TEST(CudaProfile, FiveThousandDispatchGraphHasARecordPerDispatchPerReplay) {
  OPEN_PROFILED_OR_SKIP(dev, dispatch_mode());
  ASSERT_EQ(dev.profile_mode(), ProfileMode::Dispatch) << dev.profile_note();
  constexpr int kDispatches = 5000;
  Buffer x = dev.alloc(32 * 4, "x");
  Recording rec = increments(dev, x, kDispatches);
  for (int r = 0; r < 3; ++r) dev.submit(rec, "replay");
  dev.wait_idle();
  const Profile p = dev.profile();
  EXPECT_TRUE(p.note().empty()) << p.note();
  ASSERT_EQ(p.dispatches().size(), 3U * kDispatches) << p.note();
  std::map<std::uint64_t, std::set<std::uint32_t>> seen;
  for (const DispatchRecord& d : p.dispatches()) {
    EXPECT_TRUE(seen[d.replay].insert(d.dispatch).second) << "twice: " << d.dispatch;
    if (d.dispatch % 997 == 0) {
      EXPECT_EQ(d.label, "inc." + std::to_string(d.dispatch));
      EXPECT_EQ(d.kernel, "increment_f32");
      EXPECT_EQ(d.submission_label, "replay");
    }
    EXPECT_GT(d.duration_ns(), 0);
  }
  ASSERT_EQ(seen.size(), 3U);
  for (const auto& [replay, dispatches] : seen) {
    EXPECT_GE(replay, 1U);
    EXPECT_EQ(dispatches.size(), static_cast<std::size_t>(kDispatches)) << "replay " << replay;
  }
  EXPECT_EQ(x.download<float>()[0], 3.0F * kDispatches);
  EXPECT_EQ(dev.stats().dispatches_profiled, 3U * kDispatches);
  EXPECT_EQ(dev.stats().profile_records_unattributed, 0U);
}

// A serial chain of busy kernels (about 1 ms each): the per-dispatch kernel times add up to the
// submission's GPU time measured by events, within 10%, on the graph and the stream path.
TEST(CudaProfile, DispatchTimesOfABusyChainAddUpToTheSubmissionTime) {
  for (ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    OPEN_PROFILED_OR_SKIP(dev, dispatch_mode(path));
    ASSERT_EQ(dev.profile_mode(), ProfileMode::Dispatch) << dev.profile_note();
    Buffer t = dev.alloc(8, "t");
    Encoder enc = dev.encoder({.label = "busy"});
    for (int i = 0; i < 20; ++i) {
      enc.dispatch(dev.kernel("spin_then_stamp"), Launch::groups(1, 1),
                   {out(t), value(std::uint64_t{2'000'000})});
    }
    Recording rec = enc.finish();
    dev.submit(rec).wait();  // warm-up: instantiation, clocks
    dev.reset_profile();
    // The first launch after profiling is (re)armed pays CUPTI's instrumentation on the host
    // between the start event and the launch; time the second one.
    dev.submit(rec).wait();
    const Submission s = dev.submit(rec);
    s.wait();
    const Profile p = dev.profile();
    std::int64_t sum = 0;
    std::int64_t first_start = INT64_MAX;
    std::int64_t last_end = 0;
    std::size_t count = 0;
    for (const DispatchRecord& d : p.dispatches()) {
      if (d.submission != s.sequence()) continue;
      ++count;
      sum += d.duration_ns();
      first_start = std::min(first_start, d.start_ns);
      last_end = std::max(last_end, d.end_ns);
    }
    ASSERT_EQ(count, 20U) << p.note();
    const auto event_ns = static_cast<double>(s.time().count());
    ASSERT_GT(event_ns, 0.0);
    EXPECT_NEAR(static_cast<double>(sum) / event_ns, 1.0, 0.10)
        << to_string(path) << ": kernels " << sum << " ns, first start to last end "
        << (last_end - first_start) << " ns, events " << event_ns << " ns";
    ASSERT_EQ(p.submissions().size(), 2U);
    EXPECT_EQ(p.submissions()[1].device_ns, s.time().count());
  }
}

// Both stream paths: every dispatch of four interleaved independent chains has one record; the
// multi-stream path spreads them over more than one lane.
TEST(CudaProfile, StreamPathsRecordEveryDispatch) {
  for (ExecutionPath path : {ExecutionPath::SingleStream, ExecutionPath::MultiStream}) {
    OPEN_PROFILED_OR_SKIP(dev, dispatch_mode(path));
    ASSERT_EQ(dev.profile_mode(), ProfileMode::Dispatch) << dev.profile_note();
    std::vector<Buffer> xs;
    for (int c = 0; c < 4; ++c) xs.push_back(dev.alloc(32 * 4));
    Encoder enc = dev.encoder();
    for (int step = 0; step < 8; ++step) {
      for (const Buffer& x : xs) {
        enc.dispatch(dev.kernel("increment_f32"), Launch::groups(1, 32), {inout(x), value(32U)});
      }
    }
    enc.commit_and_wait("lanes");
    const Profile p = dev.profile();
    ASSERT_EQ(p.dispatches().size(), 32U) << to_string(path) << ": " << p.note();
    std::set<std::uint32_t> dispatches;
    std::set<std::uint32_t> lanes;
    for (const DispatchRecord& d : p.dispatches()) {
      dispatches.insert(d.dispatch);
      lanes.insert(d.lane);
    }
    EXPECT_EQ(dispatches.size(), 32U) << to_string(path);
    if (path == ExecutionPath::MultiStream) {
      EXPECT_GT(lanes.size(), 1U);
    }
  }
}

// Replays that patch a slot (the executable is patched, its node ids kept) and a commit of the
// same structure (a cache hit for another command list) are still attributed.
TEST(CudaProfile, PatchedReplaysAndCacheHitsAreAttributed) {
  OPEN_PROFILED_OR_SKIP(dev, dispatch_mode());
  ASSERT_EQ(dev.profile_mode(), ProfileMode::Dispatch) << dev.profile_note();
  Buffer x = dev.alloc(32 * 4);
  Encoder enc = dev.encoder({.label = "slot"});
  enc.dispatch(dev.kernel("increment_f32"), Launch::groups(1, 32), {inout(x), slot("n", 32U)},
               {.label = "patched"});
  enc.dispatch(dev.kernel("increment_f32"), Launch::groups(1, 32), {inout(x), value(32U)},
               {.label = "fixed"});
  Recording rec = enc.finish();
  for (std::uint32_t n : {32U, 16U, 8U}) {
    rec.set("n", n);
    dev.submit(rec);
  }
  Encoder again = dev.encoder();
  for (int i = 0; i < 2; ++i) {
    again.dispatch(dev.kernel("increment_f32"), Launch::groups(1, 32), {inout(x), value(32U)},
                   {.label = "again"});
  }
  again.commit();
  dev.wait_idle();
  const Profile p = dev.profile();
  EXPECT_TRUE(p.note().empty()) << p.note();
  ASSERT_EQ(p.dispatches().size(), 3U * 2U + 2U);
  EXPECT_GE(dev.stats().graph_nodes_patched, 2U);
  std::map<std::string, int> labels;
  for (const DispatchRecord& d : p.dispatches()) labels[d.label]++;
  EXPECT_EQ(labels["patched"], 3);
  EXPECT_EQ(labels["fixed"], 3);
  EXPECT_EQ(labels["again"], 2);
}

// Two devices profiling at once share the process's CUPTI session; each profile holds only its
// own device's dispatches.
TEST(CudaProfile, TwoProfilingDevicesKeepTheirOwnRecords) {
  OPEN_PROFILED_OR_SKIP(first, dispatch_mode());
  OPEN_PROFILED_OR_SKIP(second, dispatch_mode());
  ASSERT_EQ(first.profile_mode(), ProfileMode::Dispatch) << first.profile_note();
  Buffer a = first.alloc(32 * 4);
  Buffer b = second.alloc(32 * 4);
  first.submit(increments(first, a, 10, "first"));
  second.submit(increments(second, b, 7, "second"));
  first.wait_idle();
  second.wait_idle();
  const Profile p1 = first.profile();
  const Profile p2 = second.profile();
  ASSERT_EQ(p1.dispatches().size(), 10U) << p1.note();
  ASSERT_EQ(p2.dispatches().size(), 7U) << p2.note();
  for (const DispatchRecord& d : p1.dispatches()) {
    EXPECT_TRUE(mentions(d.label, "first"));
  }
  for (const DispatchRecord& d : p2.dispatches()) {
    EXPECT_TRUE(mentions(d.label, "second"));
  }
}

// Per submission on CUDA: event-timed records in commit order, spaced as on the GPU.
TEST(CudaProfile, SubmissionModeChainsEventTimes) {
  DeviceOptions o;
  o.profile = ProfileMode::Submission;
  OPEN_PROFILED_OR_SKIP(dev, o);
  Buffer x = dev.alloc(32 * 4);
  Recording rec = increments(dev, x, 50);
  for (int i = 0; i < 4; ++i) dev.submit(rec);
  dev.wait_idle();
  const Profile p = dev.profile();
  ASSERT_EQ(p.submissions().size(), 4U);
  EXPECT_TRUE(p.dispatches().empty());
  for (std::size_t i = 0; i < 4; ++i) {
    const SubmissionRecord& s = p.submissions()[i];
    EXPECT_GT(s.device_ns, 0);
    EXPECT_EQ(s.duration_ns(), s.device_ns);
    if (i > 0) {
      EXPECT_GE(s.start_ns, p.submissions()[i - 1].end_ns);
    }
  }
}

// Without CUPTI (a library path that does not exist) the device profiles per submission, says
// why, and runs normally. CUPTI, once loaded, serves the whole process, so this runs only where
// no earlier test in the process loaded it (ctest runs each test in its own process).
TEST(CudaProfile, MissingCuptiFallsBackToPerSubmission) {
  if (detail::CuptiSession::loaded()) {
    GTEST_SKIP() << "CUPTI was loaded by an earlier test of this process; run this test alone";
  }
  DeviceOptions o = dispatch_mode();
  o.cupti_library = "/nonexistent/encore/libcupti.so.13";
  OPEN_PROFILED_OR_SKIP(dev, o);
  EXPECT_EQ(dev.profile_mode(), ProfileMode::Submission);
  EXPECT_TRUE(mentions(dev.profile_note(), "/nonexistent/encore/libcupti.so.13"))
      << dev.profile_note();
  Buffer x = dev.alloc(32 * 4);
  dev.submit(increments(dev, x, 3)).wait();
  const Profile p = dev.profile();
  EXPECT_EQ(p.mode(), ProfileMode::Submission);
  EXPECT_EQ(p.submissions().size(), 1U);
  EXPECT_TRUE(p.dispatches().empty());
  EXPECT_TRUE(mentions(p.note(), "unavailable")) << p.note();
  EXPECT_EQ(x.download<float>()[0], 3.0F);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
