// Collectives across CPU devices (include/encore/collective.h): all_reduce (sum, max) and
// all_gather give every rank the same, exact results; they are ordered against the dispatches
// around them and against each other; ranks that disagree, a rank that never arrives and an
// abort fail every rank with a message that says what happened, and the group stays failed;
// bad views and communicators are refused when recording.

#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "encore/encore.h"

#include "core/command_list.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using namespace std::chrono_literals;
using testing::error_from;
using testing::mentions;

constexpr std::uint32_t kN = 8;

std::vector<Device> cpu_devices(std::size_t n) {
  std::vector<Device> devices;
  for (std::size_t i = 0; i < n; ++i) {
    DeviceOptions options;
    options.backend = BackendKind::Cpu;
    options.cpu_threads = 2;
    devices.push_back(Device::open(options));
  }
  return devices;
}

Buffer upload_floats(Device dev, const std::vector<float>& v) {
  Buffer b = dev.alloc(v.size() * 4, "data");
  b.upload(std::span<const float>(v));
  return b;
}

// The error a submission finished with (a test failure when it succeeded).
Error failure_of(const Submission& s) {
  return error_from([&] { s.wait(); });
}

// Three ranks: all_reduce(sum) then a scale that reads the result; every rank gets the exact
// sum (small integers) and the scale waits for the collective.
TEST(Collectives, AllReduceSumsOnEveryRankAndOrdersTheReaders) {
  std::vector<Device> devices = cpu_devices(3);
  std::vector<Communicator> comms = Communicator::create(devices, {.label = "tp"});
  ASSERT_EQ(comms.size(), 3U);
  std::vector<Buffer> data;
  std::vector<Buffer> scaled;
  std::vector<Submission> runs;
  for (std::uint32_t r = 0; r < 3; ++r) {
    EXPECT_EQ(comms[r].rank(), r);
    EXPECT_EQ(comms[r].size(), 3U);
    std::vector<float> v(kN);
    for (std::uint32_t i = 0; i < kN; ++i) v[i] = static_cast<float>(i + 10 * r);
    data.push_back(upload_floats(devices[r], v));
    scaled.push_back(devices[r].alloc(kN * 4, "scaled"));
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], data[r], ReduceOp::Sum, "attn.allreduce");
    enc.dispatch(devices[r].kernel("scale_f32"), Launch::threads(kN, 64),
                 {in(data[r]), out(scaled[r]), value(2.0F), value(kN)}, {.label = "scale"});
    Recording rec = enc.finish();
    EXPECT_EQ(rec.node(0).op, OpKind::Collective);
    ASSERT_EQ(rec.node(1).dependencies.size(), 1U);
    EXPECT_EQ(rec.node(1).dependencies[0].node, 0U);
    runs.push_back(devices[r].submit(rec));
  }
  for (Submission& s : runs) s.wait();
  for (std::uint32_t r = 0; r < 3; ++r) {
    const std::vector<float> got = data[r].download<float>();
    const std::vector<float> twice = scaled[r].download<float>();
    for (std::uint32_t i = 0; i < kN; ++i) {
      EXPECT_EQ(got[i], static_cast<float>(3 * i + 30)) << "rank " << r << ", " << i;
      EXPECT_EQ(twice[i], 2.0F * got[i]) << "rank " << r << ", " << i;
    }
  }
}

// Two ranks, three collectives in one recording replayed twice: max, gather and sum run in
// recording order (each waits for the one before, through the rank's order token).
TEST(Collectives, ConsecutiveCollectivesRunInOrderAcrossReplays) {
  std::vector<Device> devices = cpu_devices(2);
  std::vector<Communicator> comms = Communicator::create(devices);
  std::vector<Buffer> a;
  std::vector<Buffer> gathered;
  std::vector<Recording> recs;
  for (std::uint32_t r = 0; r < 2; ++r) {
    a.push_back(upload_floats(devices[r], {r == 0 ? 1.0F : 5.0F, r == 0 ? 7.0F : 2.0F}));
    gathered.push_back(devices[r].alloc(4 * 4, "gathered"));
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], a[r], ReduceOp::Max);         // a = {5, 7}
    all_gather(enc, comms[r], a[r], gathered[r]);           // {5, 7, 5, 7}
    all_reduce(enc, comms[r], gathered[r], ReduceOp::Sum);  // {10, 14, 10, 14}
    recs.push_back(enc.finish());
    // Backends skip their collective work for lists without any: the count survives the passes.
    EXPECT_EQ(recs[r].commands().collective_count, 3U);
    const Recording passed =
        PassPipeline({Pass::Fuse, Pass::Reorder, Pass::Minimize}).apply(recs[r]).recording;
    EXPECT_EQ(passed.commands().collective_count, 3U);
    ASSERT_EQ(recs[r].node(1).dependencies.size(), 1U);
    EXPECT_EQ(recs[r].node(1).dependencies[0].node, 0U);
    ASSERT_EQ(recs[r].node(2).dependencies.size(), 1U);
    EXPECT_EQ(recs[r].node(2).dependencies[0].node, 1U);
  }
  for (int replay = 0; replay < 2; ++replay) {
    std::vector<Submission> runs;
    for (std::uint32_t r = 0; r < 2; ++r) runs.push_back(devices[r].submit(recs[r]));
    for (Submission& s : runs) s.wait();
  }
  // The second replay: max {5, 7}, gathered {5, 7, 5, 7}, summed {10, 14, 10, 14}.
  for (std::uint32_t r = 0; r < 2; ++r) {
    EXPECT_EQ(a[r].download<float>(), (std::vector<float>{5, 7})) << r;
    EXPECT_EQ(gathered[r].download<float>(), (std::vector<float>{10, 14, 10, 14})) << r;
  }
}

// Ranks that record different collectives fail together, naming both calls; the group stays
// failed.
TEST(Collectives, DisagreeingRanksFailEveryRank) {
  std::vector<Device> devices = cpu_devices(2);
  std::vector<Communicator> comms = Communicator::create(devices, {.timeout = 5s, .label = "tp"});
  Buffer small = devices[0].alloc(kN * 4);
  Buffer large = devices[1].alloc(2 * kN * 4);
  Encoder e0 = devices[0].encoder();
  all_reduce(e0, comms[0], small, ReduceOp::Sum, "x");
  Encoder e1 = devices[1].encoder();
  all_reduce(e1, comms[1], large, ReduceOp::Sum, "x");
  const Submission s0 = e0.commit();
  const Submission s1 = e1.commit();
  for (const Submission* s : {&s0, &s1}) {
    const Error e = failure_of(*s);
    EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
    EXPECT_TRUE(mentions(e.what(), "collective group 'tp' of 2 ranks failed")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "the ranks disagree at collective 1")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "rank 0 all_reduce(sum) of 8 f32")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "rank 1 all_reduce(sum) of 16 f32")) << e.what();
  }
  Encoder again = devices[0].encoder();
  all_reduce(again, comms[0], small);
  EXPECT_TRUE(mentions(failure_of(again.commit()).what(), "ranks disagree")) << "stays failed";
}

// Rank 0 alone calls all_reduce; the submission (which waits for rank 1).
Submission rank0_all_reduce(std::vector<Device>& devices, const Communicator& rank0) {
  Buffer data = devices[0].alloc(kN * 4);
  Encoder enc = devices[0].encoder();
  all_reduce(enc, rank0, data);
  return enc.commit();
}

// A rank that never arrives: the waiting rank fails after the timeout, naming who is missing.
TEST(Collectives, AMissingRankTimesOut) {
  std::vector<Device> devices = cpu_devices(2);
  std::vector<Communicator> comms = Communicator::create(devices, {.timeout = 200ms});
  const auto start = std::chrono::steady_clock::now();
  const Error e = failure_of(rank0_all_reduce(devices, comms[0]));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
  EXPECT_TRUE(mentions(e.what(), "rank 0 waited 200 ms for the other ranks (missing: rank 1)"))
      << e.what();
}

// abort() wakes a waiting rank at once with the reason.
TEST(Collectives, AbortFailsAWaitingRank) {
  std::vector<Device> devices = cpu_devices(2);
  std::vector<Communicator> comms = Communicator::create(devices, {.timeout = 30s});
  const auto start = std::chrono::steady_clock::now();
  const Submission s = rank0_all_reduce(devices, comms[0]);
  std::this_thread::sleep_for(50ms);
  comms[1].abort("its process is shutting down");
  const Error e = failure_of(s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_TRUE(mentions(e.what(), "aborted: by rank 1: its process is shutting down")) << e.what();
}

// Ranks that join on their own threads form one group: the collectives work as with create().
TEST(Collectives, RanksJoiningFromTheirOwnThreadsFormAGroup) {
  std::vector<Device> devices = cpu_devices(3);
  std::vector<Communicator> comms(3);
  std::vector<std::thread> threads;
  for (std::uint32_t r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      comms[r] = Communicator::join(devices[r], {.ranks = 3, .rank = r, .unique_id = "join-ok"});
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<Buffer> data;
  std::vector<Submission> runs;
  for (std::uint32_t r = 0; r < 3; ++r) {
    ASSERT_TRUE(comms[r]);
    EXPECT_EQ(comms[r].rank(), r);
    EXPECT_EQ(comms[r].size(), 3U);
    EXPECT_EQ(comms[r].group_id(), comms[0].group_id());
    data.push_back(upload_floats(devices[r], {static_cast<float>(r + 1)}));
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], data[r]);
    runs.push_back(enc.commit());
  }
  for (Submission& s : runs) s.wait();
  for (std::uint32_t r = 0; r < 3; ++r) EXPECT_EQ(data[r].download<float>()[0], 6.0F) << r;
  // The id is free again: a new group of one forms at once.
  EXPECT_TRUE(Communicator::join(devices[0], {.ranks = 1, .rank = 0, .unique_id = "join-ok"}));
}

// Joining: bad ranks, a rank or a device twice, disagreeing sizes, and a missing rank.
TEST(Collectives, JoiningRefusesMistakesAndTimesOut) {
  std::vector<Device> devices = cpu_devices(2);
  const auto join_error = [&](std::size_t device, const CommunicatorConfig& c) {
    return error_from([&] { (void)Communicator::join(devices[device], c); });
  };
  EXPECT_TRUE(mentions(join_error(0, {.ranks = 2, .rank = 2, .unique_id = "j"}).what(),
                       "rank 2: the rank must be in [0, 2)"));
  EXPECT_TRUE(mentions(join_error(0, {.ranks = 2, .rank = 0}).what(), "the unique id is empty"));
  // Rank 0 waits (setup timeout 300 ms) while the mistakes are refused, then fails alone.
  std::optional<Error> waited;
  std::thread rank0([&] {
    waited = join_error(0, {.ranks = 2, .rank = 0, .unique_id = "j", .setup_timeout = 300ms});
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(mentions(join_error(1, {.ranks = 3, .rank = 1, .unique_id = "j"}).what(),
                       "it says the group has 3 ranks, but the ranks that joined before say 2"));
  EXPECT_TRUE(mentions(join_error(1, {.ranks = 2, .rank = 0, .unique_id = "j"}).what(),
                       "the rank has joined already"));
  EXPECT_TRUE(mentions(join_error(0, {.ranks = 2, .rank = 1, .unique_id = "j"}).what(),
                       "has joined as rank 0 already"));
  rank0.join();
  ASSERT_TRUE(waited.has_value());
  EXPECT_EQ(waited->code(), ErrorCode::KernelFailed);
  EXPECT_TRUE(mentions(waited->what(), "rank 0 waited 300 ms for rank 1 to join"))
      << waited->what();
}

// Refused when recording, with nothing recorded.
TEST(Collectives, BadViewsAndCommunicatorsAreRefused) {
  std::vector<Device> devices = cpu_devices(2);
  std::vector<Communicator> comms = Communicator::create(devices);
  Buffer data = devices[0].alloc(kN * 4);
  Buffer elsewhere = devices[1].alloc(kN * 4);
  Encoder enc = devices[0].encoder();
  Error e = error_from([&] { all_reduce(enc, comms[0], data.view(2, 8), ReduceOp::Sum, "h"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "all_reduce 'h': data must be a non-empty, 4-byte aligned"))
      << e.what();
  e = error_from([&] { all_reduce(enc, comms[0], elsewhere); });
  EXPECT_EQ(e.code(), ErrorCode::WrongDevice);
  EXPECT_TRUE(mentions(e.what(), "but rank 0 of the communicator is device")) << e.what();
  e = error_from([&] { all_gather(enc, comms[0], data.view(0, 16), data.view(16, 16)); });
  EXPECT_TRUE(mentions(e.what(), "out holds 16 bytes, but 2 ranks of 16 bytes need 32"))
      << e.what();
  Buffer big = devices[0].alloc(64);
  e = error_from([&] { all_gather(enc, comms[0], big.view(0, 16), big.view(8, 32)); });
  EXPECT_TRUE(mentions(e.what(), "out overlaps in")) << e.what();
  e = error_from([&] { all_reduce(enc, Communicator(), data); });
  EXPECT_TRUE(mentions(e.what(), "the communicator is empty")) << e.what();
  EXPECT_EQ(enc.dispatch_count(), 0U);

  EXPECT_TRUE(mentions(error_from([] { (void)Communicator::create({}); }).what(), "no devices"));
  std::vector<Device> twice = {devices[0], devices[0]};
  EXPECT_TRUE(mentions(error_from([&] { (void)Communicator::create(twice); }).what(),
                       "is given twice (ranks 0 and 1)"));
  EXPECT_TRUE(
      mentions(error_from([&] { (void)Communicator::create(devices, {.timeout = 0ms}); }).what(),
               "the timeout and the setup timeout must be positive"));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
