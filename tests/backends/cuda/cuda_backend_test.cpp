// The CUDA backend on a real device (label gpu; every test skips, as a CTest skip, where no CUDA
// device can be opened): graph and stream paths give the CPU's results, the executable cache
// instantiates once and then patches only what changed, slots patch replays, signatures are
// checked against the compiled kernels, and a fault is reported and leaves the device lost.

#include <cstdint>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>
#include <vector>

#include "encore/encore.h"

#include "backends/cuda/cuda_test_kernels.h"
#include "kernels/basic_kernels.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::download_floats;
using testing::error_from;
using testing::mentions;
using testing::upload_floats;

std::shared_ptr<KernelRegistry> cuda_test_registry() {
  auto r = KernelRegistry::create();
  kernels::register_basic_kernels(*r);
  r->add({.name = "fault_kernel",
          .params = {Param::inout("x")},
          .cuda = testing::cuda_fault_kernel()});
  r->add({.name = "mismatched_kernel",
          .params = {Param::inout("x"), Param::value<float>("v")},
          .cuda = testing::cuda_mismatched_kernel()});
  r->add({.name = "increment_f32",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("n")},
          .cuda = testing::cuda_increment_kernel()});
  r->add({.name = "spin_then_stamp",
          .params = {Param::out("t"), Param::value<std::uint64_t>("cycles")},
          .cuda = testing::cuda_spin_then_stamp_kernel()});
  r->add({.name = "stamp", .params = {Param::out("t")}, .cuda = testing::cuda_stamp_kernel()});
  r->add({.name = "increment_pdl_f32",
          .params = {Param::inout("x"), Param::value<std::uint32_t>("n")},
          .cuda = testing::cuda_increment_pdl_kernel(),
          .programmatic_dependency = true});
  r->add({.name = "add_pdl_f32",
          .params = {Param::in("a"), Param::in("b"), Param::out("c"),
                     Param::value<std::uint32_t>("n")},
          .cuda = testing::cuda_add_pdl_kernel(),
          .programmatic_dependency = true});
  return r;
}

// Opens the CUDA device or skips the test (a CTest skip, not a pass) with the reason.
#define OPEN_CUDA_OR_SKIP(dev, ...)                       \
  Device dev{nullptr};                                    \
  try {                                                   \
    DeviceOptions o{__VA_ARGS__};                         \
    o.backend = BackendKind::Cuda;                        \
    if (!o.registry) o.registry = cuda_test_registry();   \
    dev = Device::open(o);                                \
  } catch (const Error& e) {                              \
    if (e.code() != ErrorCode::BackendUnavailable) throw; \
    GTEST_SKIP() << e.what();                             \
  }

// y = 2 * (a + b) over n floats, in two dependent dispatches.
Recording record_add_scale(Device& dev, const Buffer& a, const Buffer& b, const Buffer& t,
                           const Buffer& y, std::uint32_t n, ExecutionPath path) {
  Encoder enc = dev.encoder({.path = path, .label = "add_scale"});
  enc.dispatch(dev.kernel("add_f32"), cover(n), {in(a), in(b), out(t), value(n)});
  enc.dispatch(dev.kernel("scale_f32"), cover(n), {in(t), out(y), slot("alpha", 2.0F), value(n)});
  return enc.finish();
}

// The device opens, names itself and reports CUDA limits.
TEST(CudaBackend, OpensAndReportsTheDevice) {
  OPEN_CUDA_OR_SKIP(dev);
  EXPECT_EQ(dev.backend(), BackendKind::Cuda);
  EXPECT_TRUE(mentions(dev.name(), "sm_")) << dev.name();
  EXPECT_GE(dev.limits().max_shared_bytes, 48U * 1024U);
  EXPECT_TRUE(dev.fallback_reason().empty());
}

// Every execution path computes the same bytes as the host.
TEST(CudaBackend, EveryPathComputesTheHostResult) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 1000;
  std::vector<float> a(n), b(n), want(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = static_cast<float>(3 * i) * 0.5F;
    want[i] = 2.0F * (a[i] + b[i]);
  }
  for (ExecutionPath path :
       {ExecutionPath::Graph, ExecutionPath::MultiStream, ExecutionPath::SingleStream}) {
    Buffer ba = upload_floats(dev, a), bb = upload_floats(dev, b);
    Buffer t = dev.alloc(n * 4), y = dev.alloc(n * 4);
    Recording rec = record_add_scale(dev, ba, bb, t, y, n, path);
    dev.submit(rec).wait();
    EXPECT_EQ(download_floats(y), want) << to_string(path);
  }
}

// A recording replays from the cached executable: one instantiation, then hits with nothing to
// patch; a changed slot patches exactly the node that uses it.
TEST(CudaBackend, ReplayReusesTheExecutableAndPatchesOnlyChangedSlots) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 64;
  Buffer a = upload_floats(dev, std::vector<float>(n, 1.0F));
  Buffer b = upload_floats(dev, std::vector<float>(n, 2.0F));
  Buffer t = dev.alloc(n * 4), y = dev.alloc(n * 4);
  Recording rec = record_add_scale(dev, a, b, t, y, n, ExecutionPath::Graph);
  dev.reset_stats();
  for (int i = 0; i < 5; ++i) dev.submit(rec).wait();
  Stats s = dev.stats();
  EXPECT_EQ(s.graph_instantiations, 1U);
  EXPECT_EQ(s.graph_cache_hits, 4U);
  EXPECT_EQ(s.graph_nodes_patched, 0U);
  EXPECT_EQ(download_floats(y), std::vector<float>(n, 6.0F));

  rec.set("alpha", 10.0F);
  dev.submit(rec).wait();
  s = dev.stats();
  EXPECT_EQ(s.graph_instantiations, 1U);
  EXPECT_EQ(s.graph_nodes_patched, 1U);
  EXPECT_EQ(download_floats(y), std::vector<float>(n, 30.0F));
}

// A command buffer re-recorded with the same structure but other buffers reuses the executable
// and patches the nodes whose arguments changed.
TEST(CudaBackend, ReRecordingTheSameStructurePatchesInsteadOfInstantiating) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 64;
  Buffer a = upload_floats(dev, std::vector<float>(n, 1.0F));
  Buffer b = upload_floats(dev, std::vector<float>(n, 2.0F));
  Buffer t = dev.alloc(n * 4);
  std::vector<Buffer> outputs;
  dev.reset_stats();
  for (int step = 0; step < 4; ++step) {
    outputs.push_back(dev.alloc(n * 4));
    Encoder enc = dev.encoder();
    enc.dispatch(dev.kernel("add_f32"), cover(n), {in(a), in(b), out(t), value(n)});
    enc.dispatch(dev.kernel("scale_f32"), cover(n),
                 {in(t), out(outputs.back()), value(static_cast<float>(step)), value(n)});
    enc.commit_and_wait();
  }
  const Stats s = dev.stats();
  EXPECT_EQ(s.graph_instantiations, 1U);
  EXPECT_EQ(s.graph_cache_hits, 3U);
  EXPECT_EQ(s.graph_nodes_patched, 3U);  // the scale node, each step: new output and factor
  for (int step = 0; step < 4; ++step) {
    EXPECT_EQ(download_floats(outputs[step]),
              std::vector<float>(n, 3.0F * static_cast<float>(step)));
  }
}

// The cache is bounded: more distinct structures than its capacity evict the oldest.
TEST(CudaBackend, GraphCacheStaysWithinItsCapacity) {
  OPEN_CUDA_OR_SKIP(dev, .graph_cache_capacity = 2);
  Buffer x = dev.alloc(1024 * 4);
  for (std::uint32_t n = 1; n <= 4; ++n) {  // four launch shapes, four structures
    Encoder enc = dev.encoder();
    enc.dispatch(dev.kernel("fill_f32"), Launch::groups(n, 32),
                 {out(x), value(1.0F), value(32 * n)});
    enc.commit_and_wait();
  }
  const Stats s = dev.stats();
  EXPECT_EQ(s.graph_instantiations, 4U);
  EXPECT_EQ(s.graph_cache_evictions, 2U);
  EXPECT_EQ(s.graph_cache_entries, 2U);
}

// Independent chains interleaved in program order run as independent branches of one graph.
TEST(CudaBackend, InterleavedIndependentChainsGiveTheHostResult) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 256;
  std::vector<Buffer> xs;
  for (int c = 0; c < 4; ++c) xs.push_back(upload_floats(dev, std::vector<float>(n, float(c))));
  Encoder enc = dev.encoder();
  for (int step = 0; step < 10; ++step) {
    for (const Buffer& x : xs) {
      enc.dispatch(dev.kernel("increment_f32"), cover(n), {inout(x), value(n)});
    }
  }
  Recording rec = enc.finish();
  EXPECT_EQ(rec.edge_count(), 36U);  // 9 per chain, none across chains
  dev.submit(rec).wait();
  for (int c = 0; c < 4; ++c)
    EXPECT_EQ(download_floats(xs[c]), std::vector<float>(n, float(c + 10)));
}

// Chains of a kernel that opts into programmatic dependent launch give exact results on the graph
// path and on one stream: each increment still sees the one before it.
TEST(CudaBackend, ProgrammaticLaunchChainsKeepEveryDependency) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 4096;
  constexpr int kSteps = 300;
  for (ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    Buffer x = dev.alloc(n * 4);
    Encoder enc = dev.encoder({.path = path});
    for (int i = 0; i < kSteps; ++i) {
      enc.dispatch(dev.kernel("increment_pdl_f32"), Launch::threads(n, 256), {inout(x), value(n)});
    }
    Recording rec = enc.finish();
    for (int replay = 0; replay < 3; ++replay) dev.submit(rec);
    dev.wait_idle();
    EXPECT_EQ(download_floats(x), std::vector<float>(n, 3.0F * kSteps)) << to_string(path);
  }
}

// A dispatch with several predecessors on one path (auto_dag keeps an edge to each) is launched
// programmatically behind the latest of them alone: z = x + y depends on the increment of x and
// on the increment of y, which follows y = 2x. The results stay exact on both paths.
TEST(CudaBackend, ProgrammaticLaunchBehindTheCoveringPredecessorKeepsEveryDependency) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 1 << 16;
  constexpr int kRounds = 50;
  for (ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    Buffer x = dev.alloc(n * 4);
    Buffer y = dev.alloc(n * 4);
    Buffer z = dev.alloc(n * 4);
    Encoder enc = dev.encoder({.path = path});
    const Launch launch = Launch::threads(n, 256);
    for (int i = 0; i < kRounds; ++i) {
      enc.dispatch(dev.kernel("increment_pdl_f32"), launch, {inout(x), value(n)});        // x += 1
      enc.dispatch(dev.kernel("add_pdl_f32"), launch, {in(x), in(x), out(y), value(n)});  // y = 2x
      enc.dispatch(dev.kernel("increment_pdl_f32"), launch, {inout(y), value(n)});        // y += 1
      enc.dispatch(dev.kernel("add_pdl_f32"), launch, {in(x), in(y), out(z), value(n)});  // z = x+y
    }
    Recording rec = enc.finish();
    EXPECT_EQ(rec.node(3).dependencies.size(), 2U);  // the increments of x and of y
    dev.submit(rec).wait();
    // After round r (x = r): y = 2r + 1, z = 3r + 1.
    EXPECT_EQ(download_floats(z), std::vector<float>(n, 3.0F * kRounds + 1)) << to_string(path);
    EXPECT_EQ(download_floats(y), std::vector<float>(n, 2.0F * kRounds + 1)) << to_string(path);
  }
}

// keep_hot becomes an L2 window on the kernels (part of the executable's structure, so a new
// window is a new executable) and changes no result, on the graph and the stream paths.
TEST(CudaBackend, KeepHotAppliesAWindowWithoutChangingResults) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 1 << 16;
  Buffer x = upload_floats(dev, std::vector<float>(n, 1.0F));
  dev.reset_stats();
  for (ExecutionPath path : {ExecutionPath::Graph, ExecutionPath::SingleStream}) {
    for (std::uint64_t hot_bytes : {std::uint64_t{4096}, std::uint64_t{n} * 4}) {
      Encoder enc = dev.encoder({.path = path});
      enc.keep_hot(x.view(0, hot_bytes));
      enc.dispatch(dev.kernel("increment_f32"), Launch::threads(n, 256), {inout(x), value(n)});
      enc.commit_and_wait();
    }
  }
  EXPECT_EQ(download_floats(x), std::vector<float>(n, 5.0F));
  EXPECT_EQ(dev.stats().graph_instantiations, 2U);  // two windows, two executables
}

// A fence signalled by one CUDA device and waited for by another (two devices on one GPU, each
// with its own queue) orders the waiter after the signaller on the GPU: the waiter's kernel
// starts, by the GPU's global timer, after the signalling kernel ended.
TEST(CudaBackend, FenceOfAnotherCudaDeviceOrdersTheWaiter) {
  OPEN_CUDA_OR_SKIP(first);
  Device second = Device::open(first.options());
  Buffer ended = first.alloc(8);
  Buffer started = second.alloc(8);
  Fence fence = first.create_fence();
  Encoder a = first.encoder({.label = "slow"});
  a.dispatch(first.kernel("spin_then_stamp"), Launch::groups(1, 1),
             {out(ended), value(std::uint64_t{100'000'000})});  // tens of milliseconds
  const Submission signalled = a.commit({}, {.signal = fence});
  Encoder b = second.encoder({.label = "quick"});
  b.wait(fence);
  b.dispatch(second.kernel("stamp"), Launch::groups(1, 1), {out(started)});
  const Submission waiter = b.commit();
  waiter.wait();
  signalled.wait();
  const std::uint64_t end_ns = ended.download<std::uint64_t>()[0];
  const std::uint64_t start_ns = started.download<std::uint64_t>()[0];
  EXPECT_GT(end_ns, 0U);
  EXPECT_GE(start_ns, end_ns);
}

// A kernel whose compiled parameters do not match its registration is refused when the device
// resolves it, before anything runs.
TEST(CudaBackend, SignatureIsCheckedAgainstTheCompiledKernel) {
  OPEN_CUDA_OR_SKIP(dev);
  const Error e = error_from([&] { (void)dev.kernel("mismatched_kernel"); });
  EXPECT_EQ(e.code(), ErrorCode::SignatureMismatch) << e.what();
  EXPECT_TRUE(mentions(e.what(), "mismatched_kernel"));
  EXPECT_TRUE(mentions(e.what(), "param 1 ('v')"));
}

// Shared memory above the 48 KB default is opted into at launch.
TEST(CudaBackend, LargeDynamicSharedMemoryIsAllowed) {
  OPEN_CUDA_OR_SKIP(dev);
  constexpr std::uint32_t n = 4096;
  Buffer x = upload_floats(dev, std::vector<float>(n, 0.5F));
  Buffer partial = dev.alloc(4);
  Encoder enc = dev.encoder();
  // sum_f32 uses blockDim.x floats; ask for far more than that, past 48 KB.
  enc.dispatch(dev.kernel("sum_f32"), Launch::groups(1, 256).shared(100 * 1024),
               {in(x), out(partial), value(n)});
  enc.commit_and_wait();
  EXPECT_EQ(download_floats(partial), std::vector<float>{2048.0F});
}

// Every kernel the device launches carries one preferred L1 / shared memory split, large enough
// for the most demanding one at full occupancy (here 100 KiB a block), so that blocks of
// consecutive kernels can share a multiprocessor; a later list that needs more raises it for all.
TEST(CudaBackend, EveryKernelGetsOneSharedMemoryCarveout) {
  OPEN_CUDA_OR_SKIP(dev);
  const auto carveout_of = [](const Kernel& k) {
    cudaFuncAttributes a{};
    EXPECT_EQ(cudaFuncGetAttributes(&a, k.def().cuda), cudaSuccess);
    return a.preferredShmemCarveout;
  };
  int shared_per_processor = 0;
  ASSERT_EQ(
      cudaDeviceGetAttribute(&shared_per_processor, cudaDevAttrMaxSharedMemoryPerMultiprocessor, 0),
      cudaSuccess);
  constexpr std::uint32_t n = 4096;
  Buffer x = upload_floats(dev, std::vector<float>(n, 0.5F));
  Buffer partial = dev.alloc(4);
  const Kernel increment = dev.kernel("increment_f32");
  const Kernel sum = dev.kernel("sum_f32");
  {
    Encoder enc = dev.encoder();
    enc.dispatch(increment, cover(n), {inout(x), value(n)});
    enc.commit_and_wait();
  }
  const int small = carveout_of(increment);
  EXPECT_GE(small, 0);
  {
    Encoder enc = dev.encoder();
    enc.dispatch(increment, cover(n), {inout(x), value(n)});
    enc.dispatch(sum, Launch::groups(1, 256).shared(100 * 1024), {in(x), out(partial), value(n)});
    enc.commit_and_wait();
  }
  const int large = carveout_of(sum);
  EXPECT_EQ(carveout_of(increment), large);
  EXPECT_GT(large, small);
  EXPECT_GE(large * shared_per_processor, 100 * 100 * 1024);  // percent of the multiprocessor
  EXPECT_EQ(download_floats(partial), std::vector<float>{2.5F * n});  // 0.5 + 1 + 1 each
}

// A fault surfaces from wait() as KernelFailed naming the command buffer; afterwards every
// submission and transfer reports DeviceLost.
TEST(CudaBackend, AFaultFailsTheSubmissionAndLosesTheDevice) {
  OPEN_CUDA_OR_SKIP(dev);
  Buffer x = dev.alloc(64);
  const Kernel fill = dev.kernel("fill_f32");
  Encoder enc = dev.encoder({.label = "faulty"});
  enc.dispatch(dev.kernel("fault_kernel"), Launch::groups(1, 1), {inout(x)});
  const Error e = error_from([&] { enc.commit_and_wait(); });
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed) << e.what();
  EXPECT_TRUE(mentions(e.what(), "faulty"));
  EXPECT_TRUE(mentions(e.what(), "cudaError"));

  Encoder next = dev.encoder();
  next.dispatch(fill, cover(16), {out(x), value(1.0F), value(16U)});
  const Error lost = error_from([&] { next.commit_and_wait(); });
  EXPECT_EQ(lost.code(), ErrorCode::DeviceLost) << lost.what();
  EXPECT_EQ(error_from([&] { (void)download_floats(x); }).code(), ErrorCode::DeviceLost);
  EXPECT_EQ(error_from([&] { (void)dev.alloc(64); }).code(), ErrorCode::DeviceLost);
  EXPECT_EQ(error_from([&] { (void)dev.kernel("copy_f32"); }).code(), ErrorCode::DeviceLost);
}

// With sync_each_dispatch a fault names the dispatch that caused it.
TEST(CudaBackend, SyncEachDispatchNamesTheFaultingDispatch) {
  OPEN_CUDA_OR_SKIP(dev, .sync_each_dispatch = true);
  Buffer x = dev.alloc(64);
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_f32"), cover(16), {out(x), value(1.0F), value(16U)},
               {.label = "fine"});
  enc.dispatch(dev.kernel("fault_kernel"), Launch::groups(1, 1), {inout(x)}, {.label = "culprit"});
  const Error e = error_from([&] { enc.commit_and_wait(); });
  EXPECT_TRUE(mentions(e.what(), "culprit")) << e.what();
  EXPECT_TRUE(mentions(e.what(), "fault_kernel")) << e.what();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
