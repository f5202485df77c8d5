// The CPU reference backend end to end: independent dispatches really run at the same time, the
// shuffled schedule is reproducible and still honours every dependency, validation mode catches
// undeclared writes and names the culprit, a failing kernel stops its dependents, submissions run
// in commit order, and dropping the device loses no work.

#include <algorithm>
#include <cstdint>
#include <future>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::ConcurrencyProbe;
using testing::cover;
using testing::download_floats;
using testing::Gate;
using testing::make_cpu_device;
using testing::make_test_registry;
using testing::mentions;
using testing::upload_floats;

const Launch kOneThread = Launch::groups(1, 1);

// Waits for `s`, which must fail with an encore::Error, and returns the error.
Error failure_of(const Submission& s) {
  try {
    s.wait();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the submission did not fail";
  return Error(ErrorCode::Internal, "the submission did not fail");
}

// ---- concurrency ------------------------------------------------------------------------------

// Runs four probe_kernel dispatches on four distinct buffers and returns the probe.
std::shared_ptr<ConcurrencyProbe> probe_four_dispatches(Ordering ordering) {
  auto probe = std::make_shared<ConcurrencyProbe>();
  Device dev = make_cpu_device({.cpu_threads = 4}, make_test_registry(nullptr, probe));
  const Kernel k = dev.kernel("probe_kernel");
  std::vector<Buffer> buffers;
  for (int i = 0; i < 4; ++i) buffers.push_back(dev.alloc(16));
  Encoder enc = dev.encoder({.ordering = ordering});
  for (const Buffer& b : buffers) enc.dispatch(k, kOneThread, {inout(b)});
  enc.commit_and_wait();
  return probe;
}

// Independent dispatches of an auto_dag command buffer run at the same time on a 4-thread device.
TEST(CpuBackend, IndependentDispatchesRunConcurrently) {
  EXPECT_GE(probe_four_dispatches(Ordering::AutoDag)->max_running.load(), 2);
}

// Serial ordering runs one dispatch at a time, even with four worker threads.
TEST(CpuBackend, SerialOrderingRunsOneDispatchAtATime) {
  EXPECT_EQ(probe_four_dispatches(Ordering::Serial)->max_running.load(), 1);
}

// ---- shuffled schedules -----------------------------------------------------------------------

// The order in which eight independent log_order dispatches ran, on a fresh 1-thread device.
// Barriers ordering without barriers records no dependency between them although they all write
// the log, so every order is legal and the run order is exactly the scheduler's choice.
std::vector<std::uint32_t> run_order(std::optional<std::uint64_t> seed) {
  constexpr std::uint32_t kCount = 8;
  Device dev = make_cpu_device({.shuffle_seed = seed, .cpu_threads = 1});
  const Kernel log = dev.kernel("log_order");
  Buffer b = dev.alloc((1 + kCount) * sizeof(std::uint32_t), "log");
  Encoder enc = dev.encoder({.ordering = Ordering::Barriers});
  for (std::uint32_t id = 0; id < kCount; ++id) {
    enc.dispatch(log, kOneThread, {inout(b), value(id)});
  }
  enc.commit_and_wait();
  const std::vector<std::uint32_t> words = b.download<std::uint32_t>();
  EXPECT_EQ(words[0], kCount);
  return {words.begin() + 1, words.end()};
}

// With one thread, a shuffle seed draws the same order every time it is used.
TEST(CpuBackend, ShuffleWithOneThreadIsReproducibleForASeed) {
  for (std::uint64_t seed : {1ULL, 42ULL, 0xDEADBEEFULL}) {
    EXPECT_EQ(run_order(seed), run_order(seed)) << "seed " << seed;
  }
}

// Different seeds draw different orders (at least one of a few differs), and the orders are
// permutations of the dispatches.
TEST(CpuBackend, DifferentShuffleSeedsGiveDifferentOrders) {
  std::set<std::vector<std::uint32_t>> orders;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    std::vector<std::uint32_t> order = run_order(seed);
    std::vector<std::uint32_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
    orders.insert(std::move(order));
  }
  EXPECT_GT(orders.size(), 1U);
}

// Without a seed, ready dispatches run in program order.
TEST(CpuBackend, WithoutASeedReadyDispatchesRunInProgramOrder) {
  EXPECT_EQ(run_order(std::nullopt), (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// Start and end of every dispatch of the "stamp" kernel, in the order they happened.
struct StampLog {
  struct Event {
    std::uint32_t id;
    bool end;
  };
  std::mutex mutex;
  std::vector<Event> events;

  void add(std::uint32_t id, bool end) {
    std::lock_guard lock(mutex);
    events.push_back({id, end});
  }
  // Position of the event, or -1.
  int position(std::uint32_t id, bool end) {
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].id == id && events[i].end == end) return static_cast<int>(i);
    }
    return -1;
  }
};

// A registry with "stamp": in prev, inout mine, value u32 id; mine[0] = mine[0] * 31 + prev[0] +
// id, logging its start and end.
std::shared_ptr<KernelRegistry> stamp_registry(const std::shared_ptr<StampLog>& log) {
  auto registry = make_test_registry();
  registry->add(
      {.name = "stamp",
       .params = {Param::in("prev"), Param::inout("mine"), Param::value<std::uint32_t>("id")},
       .cpu = [log](const CpuKernelContext& ctx) {
         const auto id = ctx.value<std::uint32_t>(2);
         log->add(id, false);
         auto* mine = ctx.ptr<std::uint32_t>(1);
         mine[0] = mine[0] * 31U + ctx.ptr<std::uint32_t>(0)[0] + id;
         log->add(id, true);
       }});
  return registry;
}

// Runs a program with a RAW, a WAR and a WAW dependency among independent filler dispatches under
// auto_dag; checks each dependent started after its predecessor ended. Returns the start order.
std::vector<std::uint32_t> run_dependent_program(std::uint32_t threads, std::uint64_t seed) {
  auto log = std::make_shared<StampLog>();
  Device dev = make_cpu_device({.shuffle_seed = seed, .cpu_threads = threads}, stamp_registry(log));
  const Kernel stamp = dev.kernel("stamp");
  std::vector<Buffer> x;
  for (int i = 0; i < 3; ++i) x.push_back(dev.alloc(4, "x" + std::to_string(i)));
  Buffer y = dev.alloc(4, "y");
  std::vector<Buffer> z;
  for (int i = 0; i < 4; ++i) z.push_back(dev.alloc(4, "z" + std::to_string(i)));
  Encoder enc = dev.encoder({.ordering = Ordering::AutoDag});
  const auto step = [&](const Buffer& prev, const Buffer& mine, std::uint32_t id) {
    enc.dispatch(stamp, kOneThread, {in(prev), inout(mine), value(id)});
  };
  step(x[0], x[1], 0);  // reads x0, writes x1
  step(z[0], z[0], 4);  // fillers: independent of everything else
  step(x[1], x[2], 1);  // RAW on x1 after 0
  step(z[1], z[1], 5);
  step(y, x[0], 2);  // WAR on x0 after 0
  step(z[2], z[2], 6);
  step(y, x[2], 3);  // WAW on x2 after 1
  step(z[3], z[3], 7);
  enc.commit_and_wait();
  const std::pair<std::uint32_t, std::uint32_t> edges[] = {{0, 1}, {0, 2}, {1, 3}};
  for (const auto& [before, after] : edges) {
    EXPECT_LT(log->position(before, true), log->position(after, false))
        << "dispatch " << after << " started before dispatch " << before << " ended (seed " << seed
        << ", " << threads << " threads)";
  }
  // x1 = 0*31 + 0 + 0; x2 = (0*31 + x1 + 1)*31 + y + 3; x0 = 0*31 + y + 2.
  EXPECT_EQ(x[1].download<std::uint32_t>()[0], 0U);
  EXPECT_EQ(x[2].download<std::uint32_t>()[0], 1U * 31U + 3U);
  EXPECT_EQ(x[0].download<std::uint32_t>()[0], 2U);
  std::vector<std::uint32_t> starts;
  for (const StampLog::Event& e : log->events) {
    if (!e.end) starts.push_back(e.id);
  }
  return starts;
}

// A shuffled schedule (1 thread, many seeds) never starts a dependent dispatch before the
// dispatch it depends on ended, yet does depart from program order.
TEST(CpuBackend, ShuffledExecutionRespectsDependencies) {
  const std::vector<std::uint32_t> program_order = {0, 4, 1, 5, 2, 6, 3, 7};
  int reordered = 0;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    if (run_dependent_program(1, seed) != program_order) ++reordered;
  }
  EXPECT_GT(reordered, 0) << "the shuffle never departed from program order";
}

// The same holds with four workers running ready dispatches at once.
TEST(CpuBackend, ShuffledParallelExecutionRespectsDependencies) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) run_dependent_program(4, seed);
}

// ---- validation mode --------------------------------------------------------------------------

// rogue_write also bumps x[0], which it declares only as read: validation fails the submission
// with UndeclaredWrite naming the dispatch label, the kernel and the buffer.
TEST(CpuBackend, ValidationCatchesAWriteToAReadOnlyArg) {
  Device dev = make_cpu_device({.validate = true});
  Buffer x = upload_floats(dev, {1, 2, 3, 4}, "victim");
  Buffer y = dev.alloc(4 * sizeof(float), "y");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("rogue_write"), cover(4), {in(x), out(y), value(4U)},
               {.label = "rogue step"});
  const Error e = failure_of(enc.commit("validated"));
  EXPECT_EQ(e.code(), ErrorCode::UndeclaredWrite);
  EXPECT_TRUE(mentions(e.what(), "rogue step"));
  EXPECT_TRUE(mentions(e.what(), "rogue_write"));
  EXPECT_TRUE(mentions(e.what(), "buf#" + std::to_string(x.id())));
  EXPECT_TRUE(mentions(e.what(), "victim"));
  EXPECT_TRUE(mentions(e.what(), "validated"));
}

// write_past_view writes one element past its out view (still inside the allocation): validation
// fails the submission naming the dispatch, the kernel and the buffer.
TEST(CpuBackend, ValidationCatchesAWritePastTheView) {
  Device dev = make_cpu_device({.validate = true});
  Buffer y = dev.alloc(8 * sizeof(float), "target");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("write_past_view"), cover(4), {out(y.view_of<float>(0, 4)), value(4U)},
               {.label = "overrun"});
  const Error e = failure_of(enc.commit());
  EXPECT_EQ(e.code(), ErrorCode::UndeclaredWrite);
  EXPECT_TRUE(mentions(e.what(), "overrun"));
  EXPECT_TRUE(mentions(e.what(), "write_past_view"));
  EXPECT_TRUE(mentions(e.what(), "buf#" + std::to_string(y.id())));
  EXPECT_TRUE(mentions(e.what(), "target"));
}

// Kernels that write only what they declare pass validation, and every validated dispatch is
// counted.
TEST(CpuBackend, ValidationPassesCorrectKernelsAndCountsThem) {
  Device dev = make_cpu_device({.validate = true});
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer b = upload_floats(dev, {10, 20, 30, 40}, "b");
  Buffer c = dev.alloc(8 * sizeof(float), "c");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("add_f32"), cover(4),
               {in(a), in(b), out(c.view_of<float>(0, 4)), value(4U)});
  enc.dispatch(dev.kernel("copy_f32"), cover(4),
               {in(c.view_of<float>(0, 4)), out(c.view_of<float>(4, 4)), value(4U)});
  enc.dispatch(dev.kernel("scale_f32"), cover(4), {in(a), out(b), value(2.0F), value(4U)});
  enc.commit_and_wait();
  EXPECT_EQ(download_floats(c), (std::vector<float>{11, 22, 33, 44, 11, 22, 33, 44}));
  EXPECT_EQ(download_floats(b), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(dev.stats().dispatches_validated, 3U);
}

// Without validation the same rogue_write "succeeds" and corrupts its input: validation is what
// catches it.
TEST(CpuBackend, WithoutValidationAnUndeclaredWriteGoesUnnoticed) {
  Device dev = make_cpu_device({.validate = false});
  Buffer x = upload_floats(dev, {1, 2, 3, 4}, "victim");
  Buffer y = dev.alloc(4 * sizeof(float), "y");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("rogue_write"), cover(4), {in(x), out(y), value(4U)});
  enc.commit_and_wait();
  EXPECT_EQ(download_floats(x), (std::vector<float>{2, 2, 3, 4}));
  EXPECT_EQ(download_floats(y), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(dev.stats().dispatches_validated, 0U);
}

// ---- failures ---------------------------------------------------------------------------------

// A kernel that throws fails the submission naming the dispatch, and nothing that depends on it
// (by WAR on its input, by RAW on its declared extra write, or transitively) runs.
TEST(CpuBackend, AFailingKernelStopsItsDependents) {
  Device dev = make_cpu_device({.cpu_threads = 4});
  Buffer x = dev.alloc(16 * 4, "x");
  Buffer w = dev.alloc(16 * 4, "w");
  Buffer r = dev.alloc(16 * 4, "r");
  Buffer t = dev.alloc(16 * 4, "t");
  const Kernel fill = dev.kernel("fill_u32");
  const Kernel mix = dev.kernel("mix_u32");
  Encoder enc = dev.encoder({.ordering = Ordering::AutoDag});
  const BufferView extra[] = {w.view()};
  enc.dispatch(dev.kernel("fail_kernel"), kOneThread, {in(x)},
               {.label = "boom", .extra_writes = extra});
  enc.dispatch(fill, cover(16), {out(x), value(7U), value(16U)});                       // WAR on x
  enc.dispatch(mix, cover(16), {in(w), inout(r), value(9U), value(16U), value(16U)});   // RAW on w
  enc.dispatch(mix, cover(16), {in(r), inout(t), value(11U), value(16U), value(16U)});  // RAW on r
  const Error e = failure_of(enc.commit("failing"));
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
  EXPECT_TRUE(mentions(e.what(), "injected failure"));
  EXPECT_TRUE(mentions(e.what(), "boom"));
  EXPECT_TRUE(mentions(e.what(), "fail_kernel"));
  EXPECT_TRUE(mentions(e.what(), "failing"));
  const std::vector<std::uint32_t> zeros(16, 0);
  EXPECT_EQ(x.download<std::uint32_t>(), zeros);
  EXPECT_EQ(r.download<std::uint32_t>(), zeros);
  EXPECT_EQ(t.download<std::uint32_t>(), zeros);
}

// A kernel that throws a std::exception fails the submission with KernelFailed carrying its
// message, and the failure is reported again on every wait.
TEST(CpuBackend, AStandardExceptionBecomesKernelFailed) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(4);
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("throw_std"), kOneThread, {in(x)}, {.label = "std"});
  const Submission s = enc.commit();
  const Error e = failure_of(s);
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
  EXPECT_TRUE(mentions(e.what(), "std failure"));
  EXPECT_TRUE(mentions(e.what(), "throw_std"));
  EXPECT_EQ(s.status(), SubmissionStatus::Failed);
  EXPECT_EQ(failure_of(s).code(), ErrorCode::KernelFailed);
  ASSERT_TRUE(s.error().has_value());
  EXPECT_EQ(s.error()->code(), ErrorCode::KernelFailed);
}

// ---- the queue --------------------------------------------------------------------------------

// Submissions run in commit order: while the first command buffer is held at a gate, the later
// ones wait behind it, and the shared log shows 1, 2, 3.
TEST(CpuBackend, SubmissionsRunInCommitOrder) {
  auto gate = std::make_shared<Gate>();
  Device dev = make_cpu_device({.cpu_threads = 4}, make_test_registry(gate));
  const Kernel log = dev.kernel("log_order");
  Buffer g = dev.alloc(4, "gate");
  Buffer b = dev.alloc(4 * sizeof(std::uint32_t), "log");

  Encoder first = dev.encoder({.ordering = Ordering::AutoDag});
  first.dispatch(dev.kernel("gate_kernel"), kOneThread, {inout(g)});
  first.barrier();
  first.dispatch(log, kOneThread, {inout(b), value(1U)});
  const Submission s1 = first.commit("first");
  gate->wait_for_arrivals(1);

  std::vector<Submission> later;
  for (std::uint32_t id = 2; id <= 3; ++id) {
    Encoder enc = dev.encoder();
    enc.dispatch(log, kOneThread, {inout(b), value(id)});
    later.push_back(enc.commit());
  }
  EXPECT_EQ(s1.status(), SubmissionStatus::Committed);
  for (const Submission& s : later) EXPECT_EQ(s.status(), SubmissionStatus::Committed);
  gate->open();
  later.back().wait();
  EXPECT_EQ(s1.status(), SubmissionStatus::Completed);
  EXPECT_EQ(b.download<std::uint32_t>(), (std::vector<std::uint32_t>{3, 1, 2, 3}));
}

// Dropping the last Device handle while a submission runs and another waits in the queue
// completes both: the submissions complete and the buffers hold their results.
TEST(CpuBackend, DroppingTheDeviceCompletesWorkInFlight) {
  auto gate = std::make_shared<Gate>();
  auto dev =
      std::make_unique<Device>(make_cpu_device({.cpu_threads = 2}, make_test_registry(gate)));
  Buffer g = dev->alloc(4, "gate");
  Buffer first_result = dev->alloc(64 * sizeof(std::uint32_t), "first");
  Buffer queued_result = dev->alloc(64 * sizeof(std::uint32_t), "queued");
  const Kernel fill = dev->kernel("fill_u32");
  Submission running;
  Submission queued;
  {
    Encoder enc = dev->encoder({.ordering = Ordering::AutoDag});
    enc.dispatch(dev->kernel("gate_kernel"), kOneThread, {inout(g)});
    enc.barrier();
    enc.dispatch(fill, cover(64), {out(first_result), value(100U), value(64U)});
    running = enc.commit();
    Encoder next = dev->encoder();
    next.dispatch(fill, cover(64), {out(queued_result), value(200U), value(64U)});
    queued = next.commit();
  }  // the encoders (which share the device) are gone too
  gate->wait_for_arrivals(1);

  std::promise<void> dropping;
  std::thread dropper([&] {
    dropping.set_value();
    dev.reset();  // the last handle: waits for both submissions
  });
  dropping.get_future().wait();
  gate->open();
  dropper.join();

  // Checked before any download, which would wait forever for work that was lost.
  ASSERT_EQ(running.status(), SubmissionStatus::Completed);
  ASSERT_EQ(queued.status(), SubmissionStatus::Completed);
  EXPECT_NO_THROW(running.wait());
  const std::vector<std::uint32_t> first = first_result.download<std::uint32_t>();
  const std::vector<std::uint32_t> second = queued_result.download<std::uint32_t>();
  for (std::uint32_t i = 0; i < 64; ++i) {
    EXPECT_EQ(first[i], 100U + i) << "element " << i;
    EXPECT_EQ(second[i], 200U + i) << "element " << i;
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
