// Collectives on CUDA devices with NCCL (label gpu; every test skips, as a CTest skip, with fewer
// than two CUDA devices or without NCCL): all_reduce and all_gather give the CPU backend's
// results in rank order; they are ordered against the kernels around them on the graph and
// stream paths, with programmatic launch on, and replay with slots patched; one thread may
// submit for every rank; per-dispatch profiles time the collective between its neighbours;
// ranks that disagree, a rank that never runs its collective and an
// abort fail with an error, never a hang; groups that mix backends or repeat a GPU are refused;
// ranks join with an NCCL unique id.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "encore/encore.h"

#include "backends/cuda/cuda_test_kernels.h"
#include "kernels/basic_kernels.h"
#include "runtime/collective_group.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using namespace std::chrono_literals;
using testing::cover;
using testing::download_floats;
using testing::error_from;
using testing::mentions;
using testing::upload_floats;

constexpr std::uint32_t kN = 1024;

std::shared_ptr<KernelRegistry> collective_test_registry() {
  auto r = KernelRegistry::create();
  kernels::register_basic_kernels(*r);
  detail::register_collective_kernels(*r);
  r->add({.name = "increment_pdl_f32",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("n")},
          .cuda = testing::cuda_increment_pdl_kernel(),
          .programmatic_dependency = true});
  return r;
}

// Every CUDA device (one Device per GPU), or none when the backend is unavailable.
std::vector<Device> open_cuda_devices(ProfileMode profile = ProfileMode::Off) {
  static const std::shared_ptr<KernelRegistry> registry = collective_test_registry();
  std::vector<Device> devices;
  for (int ordinal = 0; ordinal < 64; ++ordinal) {
    try {
      DeviceOptions o;
      o.backend = BackendKind::Cuda;
      o.cuda_ordinal = ordinal;
      o.registry = registry;
      o.profile = profile;
      devices.push_back(Device::open(o));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::BackendUnavailable) throw;
      break;
    }
  }
  return devices;
}

// Opens every CUDA device into `devices` and forms `comms`, or skips the test (a CTest skip)
// with fewer than two devices or without NCCL.
#define OPEN_GROUP_OR_SKIP(devices, comms, ...) \
  OPEN_PROFILED_GROUP_OR_SKIP(devices, comms, ProfileMode::Off, __VA_ARGS__)
#define OPEN_PROFILED_GROUP_OR_SKIP(devices, comms, profile, ...)       \
  std::vector<Device> devices = open_cuda_devices(profile);             \
  if ((devices).size() < 2) {                                           \
    GTEST_SKIP() << "needs 2 CUDA devices, found " << (devices).size(); \
  }                                                                     \
  std::vector<Communicator> comms;                                      \
  try {                                                                 \
    comms = Communicator::create(devices, {__VA_ARGS__});               \
  } catch (const Error& e) {                                            \
    if (e.code() != ErrorCode::BackendUnavailable) throw;               \
    GTEST_SKIP() << e.what();                                           \
  }

// Small integers: every sum is exact, whatever order NCCL adds in.
std::vector<float> rank_values(std::uint32_t rank, std::uint32_t n) {
  std::vector<float> v(n);
  for (std::uint32_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 7 + rank * 13) % 61) - 30;
  return v;
}

// Runs `submit(rank)` on a thread per rank, then waits for every submission.
template <class F>
void run_ranks(std::size_t ranks, F&& submit) {
  std::vector<Submission> runs(ranks);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < ranks; ++r) threads.emplace_back([&, r] { runs[r] = submit(r); });
  for (std::thread& t : threads) t.join();
  for (Submission& s : runs) s.wait();
}

// A step's buffers on one rank: a = rank_values, x and y of kN floats.
struct StepBuffers {
  Buffer a, x, y;
};
std::vector<StepBuffers> step_buffers(std::vector<Device>& devices) {
  std::vector<StepBuffers> out;
  for (std::uint32_t r = 0; r < devices.size(); ++r) {
    out.push_back({upload_floats(devices[r], rank_values(r, kN)), devices[r].alloc(kN * 4, "x"),
                   devices[r].alloc(kN * 4, "y")});
  }
  return out;
}

// all_reduce(op) of rank_values on every rank of `devices` (any backend): each rank's result.
std::vector<std::vector<float>> all_reduce_results(std::vector<Device>& devices, ReduceOp op) {
  std::vector<Communicator> comms = Communicator::create(devices);
  std::vector<Buffer> data;
  for (std::uint32_t r = 0; r < devices.size(); ++r) {
    data.push_back(upload_floats(devices[r], rank_values(r, kN)));
  }
  run_ranks(devices.size(), [&](std::size_t r) {
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], data[r], op, "reduce");
    return enc.commit();
  });
  std::vector<std::vector<float>> out;
  for (const Buffer& b : data) out.push_back(download_floats(b));
  return out;
}

// Sum and max across every GPU equal the CPU backend's, on every rank.
TEST(CudaCollectives, AllReduceSumAndMaxMatchTheCpuBackend) {
  OPEN_GROUP_OR_SKIP(devices, comms);
  std::vector<Device> cpus;
  for (std::size_t r = 0; r < devices.size(); ++r) {
    DeviceOptions o;
    o.backend = BackendKind::Cpu;
    o.cpu_threads = 2;
    cpus.push_back(Device::open(o));  // the built-in kernels, collectives among them
  }
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max}) {
    const auto want = all_reduce_results(cpus, op);
    const auto got = all_reduce_results(devices, op);
    for (std::size_t r = 0; r < devices.size(); ++r) {
      EXPECT_EQ(got[r], want[r]) << to_string(op) << ", rank " << r;
    }
  }
}

// all_gather puts every rank's input at its rank's place, on every rank.
TEST(CudaCollectives, AllGatherPutsRanksInOrder) {
  OPEN_GROUP_OR_SKIP(devices, comms, .label = "gather");
  const std::size_t ranks = devices.size();
  std::vector<Buffer> in;
  std::vector<Buffer> out;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    in.push_back(upload_floats(devices[r], rank_values(r, kN)));
    out.push_back(devices[r].alloc(ranks * kN * 4, "gathered"));
  }
  run_ranks(ranks, [&](std::size_t r) {
    Encoder enc = devices[r].encoder();
    all_gather(enc, comms[r], in[r], out[r], "gather");
    return enc.commit();
  });
  std::vector<float> want;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    const std::vector<float> v = rank_values(r, kN);
    want.insert(want.end(), v.begin(), v.end());
  }
  for (std::size_t r = 0; r < ranks; ++r) EXPECT_EQ(download_floats(out[r]), want) << r;
}

// x = alpha * a; all_reduce(x); x += 1 (a kernel that may launch programmatically, behind the
// collective only with a full edge); y = x + x. Replayed with other alphas: the graph is built
// once per device and then patched.
class CudaCollectivesInARecording : public ::testing::TestWithParam<ExecutionPath> {};

TEST_P(CudaCollectivesInARecording, AreOrderedWithTheKernelsAroundThemAcrossReplays) {
  OPEN_GROUP_OR_SKIP(devices, comms, .label = "tp");
  const std::size_t ranks = devices.size();
  const std::vector<StepBuffers> b = step_buffers(devices);
  std::vector<Recording> recs;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    Device& dev = devices[r];
    Encoder enc = dev.encoder({.path = GetParam(), .label = "step"});
    enc.dispatch(dev.kernel("scale_f32"), cover(kN),
                 {in(b[r].a), out(b[r].x), slot("alpha", 1.0F), value(kN)}, {.label = "scale"});
    all_reduce(enc, comms[r], b[r].x, ReduceOp::Sum, "allreduce");
    enc.dispatch(dev.kernel("increment_pdl_f32"), cover(kN), {inout(b[r].x), value(kN)},
                 {.label = "increment"});
    enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(b[r].x), in(b[r].x), out(b[r].y), value(kN)},
                 {.label = "double"});
    recs.push_back(enc.finish());
  }
  for (float alpha : {1.0F, 2.0F, -3.0F}) {
    run_ranks(ranks, [&](std::size_t r) {
      recs[r].set("alpha", alpha);
      return devices[r].submit(recs[r]);
    });
    std::vector<float> want_x(kN, 1.0F);
    for (std::uint32_t r = 0; r < ranks; ++r) {
      const std::vector<float> v = rank_values(r, kN);
      for (std::uint32_t i = 0; i < kN; ++i) want_x[i] += alpha * v[i];
    }
    for (std::size_t r = 0; r < ranks; ++r) {
      EXPECT_EQ(download_floats(b[r].x), want_x) << "alpha " << alpha << ", rank " << r;
      std::vector<float> want_y(want_x);
      for (float& v : want_y) v *= 2.0F;
      EXPECT_EQ(download_floats(b[r].y), want_y) << "alpha " << alpha << ", rank " << r;
    }
  }
  if (GetParam() == ExecutionPath::Graph) {
    for (Device& dev : devices) EXPECT_EQ(dev.stats().graph_instantiations, 1U) << dev.name();
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaCollectivesInARecording,
                         ::testing::Values(ExecutionPath::Graph, ExecutionPath::SingleStream,
                                           ExecutionPath::MultiStream),
                         [](const auto& p) { return std::string(to_string(p.param)); });

// Per-dispatch profiles time a collective like any dispatch: its NCCL kernels (inside the
// captured child graph on the graph path) are joined to it, on every rank and every run, between
// the kernels it is ordered after and before, and nothing is left unattributed.
class CudaCollectivesProfiled : public ::testing::TestWithParam<ExecutionPath> {};

TEST_P(CudaCollectivesProfiled, TimeTheCollectiveBetweenItsNeighbours) {
  OPEN_PROFILED_GROUP_OR_SKIP(devices, comms, ProfileMode::Dispatch, .label = "tp");
  if (devices[0].profile_mode() != ProfileMode::Dispatch) {
    GTEST_SKIP() << "no per-dispatch profiling: " << devices[0].profile_note();
  }
  const std::size_t ranks = devices.size();
  constexpr int kRuns = 3;
  const std::vector<StepBuffers> b = step_buffers(devices);
  std::vector<Recording> recs;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    Device& dev = devices[r];
    Encoder enc = dev.encoder({.path = GetParam(), .label = "step"});
    enc.dispatch(dev.kernel("scale_f32"), cover(kN),
                 {in(b[r].a), out(b[r].x), value(1.0F), value(kN)}, {.label = "scale"});
    all_reduce(enc, comms[r], b[r].x, ReduceOp::Sum, "allreduce");
    enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(b[r].x), in(b[r].x), out(b[r].y), value(kN)},
                 {.label = "double"});
    recs.push_back(enc.finish());
  }
  for (int run = 0; run < kRuns; ++run) {
    run_ranks(ranks, [&](std::size_t r) { return devices[r].submit(recs[r]); });
  }
  for (Device& dev : devices) {
    const Profile p = dev.profile();
    // Per run: the span of each label's kernels (a collective may run more than one).
    struct Span {
      std::int64_t start = INT64_MAX;
      std::int64_t end = INT64_MIN;
      int kernels = 0;
    };
    std::map<std::uint64_t, std::map<std::string, Span>> runs;
    for (const DispatchRecord& d : p.dispatches()) {
      Span& s = runs[d.submission][d.label];
      s.start = std::min(s.start, d.start_ns);
      s.end = std::max(s.end, d.end_ns);
      ++s.kernels;
      EXPECT_GT(d.duration_ns(), 0) << d.label;
      if (d.label == "allreduce") {
        EXPECT_EQ(d.op, OpKind::Collective);
      }
    }
    EXPECT_EQ(runs.size(), static_cast<std::size_t>(kRuns)) << dev.name();
    for (auto& [submission, spans] : runs) {
      ASSERT_EQ(spans.size(), 3U) << dev.name() << ", submission " << submission;
      EXPECT_EQ(spans["scale"].kernels, 1);
      EXPECT_GE(spans["allreduce"].kernels, 1);
      EXPECT_EQ(spans["double"].kernels, 1);
      EXPECT_LE(spans["scale"].end, spans["allreduce"].start) << dev.name();
      EXPECT_LE(spans["allreduce"].end, spans["double"].start) << dev.name();
    }
    EXPECT_EQ(dev.stats().profile_records_unattributed, 0U) << dev.name() << ": " << p.note();
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaCollectivesProfiled,
                         ::testing::Values(ExecutionPath::Graph, ExecutionPath::SingleStream),
                         [](const auto& p) { return std::string(to_string(p.param)); });

// One thread submits for every rank in turn: no submission waits for its peers'.
TEST(CudaCollectives, OneThreadMaySubmitForEveryRank) {
  OPEN_GROUP_OR_SKIP(devices, comms, .timeout = 20s);
  std::vector<Buffer> data;
  std::vector<Submission> runs;
  for (std::uint32_t r = 0; r < devices.size(); ++r) {
    data.push_back(upload_floats(devices[r], {static_cast<float>(r + 1)}));
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], data[r]);
    runs.push_back(enc.commit());
  }
  for (Submission& s : runs) s.wait();
  const auto n = static_cast<float>(devices.size());
  for (const Buffer& b : data) EXPECT_EQ(download_floats(b)[0], n * (n + 1) / 2);
}

// Ranks that record different collectives fail, naming the first one that differs, without
// running them; the group stays failed and the devices stay usable.
TEST(CudaCollectives, DisagreeingRanksFailEveryRank) {
  OPEN_GROUP_OR_SKIP(devices, comms, .timeout = 5s, .label = "tp");
  const auto start = std::chrono::steady_clock::now();
  std::vector<Buffer> data;
  std::vector<Submission> runs;
  for (std::uint32_t r = 0; r < devices.size(); ++r) {
    data.push_back(devices[r].alloc((r == 1 ? 16 : 8) * 4));
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], data[r], ReduceOp::Sum, "x");
    runs.push_back(enc.commit());
  }
  for (const Submission& s : runs) {
    const Error e = error_from([&] { s.wait(); });
    EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
    EXPECT_TRUE(mentions(e.what(), "collective group 'tp'")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "the ranks disagree at collective 1")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "all_reduce(sum) of 8 f32 ('x')")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "rank 1 all_reduce(sum) of 16 f32 ('x')")) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  Encoder again = devices[0].encoder();
  all_reduce(again, comms[0], data[0]);
  EXPECT_TRUE(mentions(error_from([&] { again.commit().wait(); }).what(), "ranks disagree"));
  Buffer ok = upload_floats(devices[0], {1.0F, 2.0F});
  Buffer twice = devices[0].alloc(8);
  Encoder enc = devices[0].encoder();
  enc.dispatch(devices[0].kernel("scale_f32"), cover(2),
               {in(ok), out(twice), value(2.0F), value(2U)});
  enc.commit_and_wait();
  EXPECT_EQ(download_floats(twice), (std::vector<float>{2.0F, 4.0F}));
}

// Rank 0's all_reduce, which the other ranks never run.
Submission rank0_all_reduce(std::vector<Device>& devices, const Communicator& rank0,
                            ExecutionPath path) {
  Buffer data = devices[0].alloc(kN * 4);
  Encoder enc = devices[0].encoder({.path = path});
  all_reduce(enc, rank0, data, ReduceOp::Sum, "lonely");
  return enc.commit();
}

// A rank whose peers never run the collective fails after the timeout, naming it; the device
// stays usable.
TEST(CudaCollectives, AMissingRankTimesOutInsteadOfHanging) {
  for (ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    OPEN_GROUP_OR_SKIP(devices, comms, .timeout = 500ms);
    const auto start = std::chrono::steady_clock::now();
    const Error e = error_from([&] { rank0_all_reduce(devices, comms[0], path).wait(); });
    EXPECT_GE(std::chrono::steady_clock::now() - start, 500ms);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
    EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
    EXPECT_TRUE(mentions(e.what(), "collective 'lonely' on rank 0 of")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "rank 0 waited 500 ms for its collectives")) << e.what();
    Buffer b = upload_floats(devices[0], {3.0F});
    Buffer c = devices[0].alloc(4);
    Encoder enc = devices[0].encoder();
    enc.dispatch(devices[0].kernel("scale_f32"), cover(1), {in(b), out(c), value(2.0F), value(1U)});
    enc.commit_and_wait();
    EXPECT_EQ(download_floats(c)[0], 6.0F) << to_string(path);
  }
}

// abort() of another rank ends a waiting collective at once, with the reason.
TEST(CudaCollectives, AbortFailsAWaitingRank) {
  OPEN_GROUP_OR_SKIP(devices, comms, .timeout = 60s);
  const auto start = std::chrono::steady_clock::now();
  const Submission s = rank0_all_reduce(devices, comms[0], ExecutionPath::Graph);
  std::this_thread::sleep_for(100ms);
  comms[1].abort("its process is shutting down");
  const Error e = error_from([&] { s.wait(); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_TRUE(mentions(e.what(), "aborted: by rank 1: its process is shutting down")) << e.what();
}

// A group mixing CPU and CUDA devices, or naming one GPU twice, is refused.
TEST(CudaCollectives, MixedOrRepeatedDevicesAreRefused) {
  std::vector<Device> gpus = open_cuda_devices();
  if (gpus.empty()) GTEST_SKIP() << "needs a CUDA device";
  std::vector<Device> mixed = {gpus[0], testing::make_cpu_device()};
  Error e = error_from([&] { (void)Communicator::create(mixed); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "rank 0 is a cuda device, but rank 1 a cpu device")) << e.what();
  DeviceOptions again = gpus[0].options();
  std::vector<Device> twice = {gpus[0], Device::open(again)};
  e = error_from([&] { (void)Communicator::create(twice); });
  EXPECT_TRUE(mentions(e.what(), "ranks 0 and 1 are both CUDA device")) << e.what();
}

// Ranks that join on their own threads with an NCCL unique id form a group.
TEST(CudaCollectives, RanksJoinWithAnNcclUniqueId) {
  std::vector<Device> devices = open_cuda_devices();
  if (devices.size() < 2) GTEST_SKIP() << "needs 2 CUDA devices, found " << devices.size();
  std::string id;
  try {
    id = Communicator::new_unique_id(devices[0]);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::BackendUnavailable) throw;
    GTEST_SKIP() << e.what();
  }
  EXPECT_EQ(id.size(), 256U);
  const auto ranks = static_cast<std::uint32_t>(devices.size());
  std::vector<Communicator> comms(ranks);
  std::vector<std::thread> threads;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      comms[r] = Communicator::join(devices[r], {.ranks = ranks, .rank = r, .unique_id = id});
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<Buffer> data;
  for (std::uint32_t r = 0; r < ranks; ++r) {
    ASSERT_TRUE(comms[r]);
    data.push_back(upload_floats(devices[r], {static_cast<float>(r + 1)}));
  }
  run_ranks(ranks, [&](std::size_t r) {
    Encoder enc = devices[r].encoder();
    all_reduce(enc, comms[r], data[r]);
    return enc.commit();
  });
  const auto n = static_cast<float>(ranks);
  for (const Buffer& b : data) EXPECT_EQ(download_floats(b)[0], n * (n + 1) / 2);
  const Error e = error_from(
      [&] { (void)Communicator::join(devices[0], {.ranks = 2, .rank = 0, .unique_id = "xyz"}); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
