// Per-device counters (seed section 4 and section 15 items 7 and 8, where counters were process
// globals and inconsistent), on every backend: the counters move as documented, belong to one
// device, and reset_stats zeroes all but the gauges. Counters only one backend drives are named
// per backend (graph_* on CUDA, dispatches_validated on the CPU) and checked to stay zero on the
// other. (Failed submissions and validation failures need CPU-only test kernels; their counters
// are tested in tests/runtime/stats_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <span>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::all_counters;
using testing::cover;
using testing::named_counters;
using testing::run_counter_workout;
using testing::upload_floats;

// The suite of this file, on the backend of its parameter (support/backend_test.h).
class DeviceStats : public testing::BackendTest {};

constexpr std::uint32_t kN = 4;

// Commits c = a + b and returns the submission (not waited for).
Submission commit_add(Device& dev, const Buffer& a, const Buffer& b, const Buffer& c) {
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
  return enc.commit();
}

// A fresh device starts with every counter at zero.
TEST_P(DeviceStats, FreshDeviceCountsNothing) {
  Device dev = make_device();
  EXPECT_EQ(all_counters(dev.stats()), std::vector<std::uint64_t>(all_counters(Stats{}).size(), 0));
}

// Allocations count buffers and bytes; the live gauges also go down when the last handle of a
// buffer goes, while the allocation totals do not. Copies of a handle are not allocations.
TEST_P(DeviceStats, AllocationCountersAndLiveGauges) {
  Device dev = make_device();
  Buffer first = dev.alloc(100, "first");
  Stats s = dev.stats();
  EXPECT_EQ(s.allocations, 1U);
  EXPECT_EQ(s.bytes_allocated, 100U);
  EXPECT_EQ(s.buffers_live, 1U);
  EXPECT_EQ(s.bytes_live, 100U);

  {
    Buffer second = dev.alloc(28, "second");
    const Buffer copy = second;
    s = dev.stats();
    EXPECT_EQ(s.allocations, 2U);
    EXPECT_EQ(s.bytes_allocated, 128U);
    EXPECT_EQ(s.buffers_live, 2U);
    EXPECT_EQ(s.bytes_live, 128U);
  }
  s = dev.stats();
  EXPECT_EQ(s.allocations, 2U);
  EXPECT_EQ(s.bytes_allocated, 128U);
  EXPECT_EQ(s.buffers_live, 1U);
  EXPECT_EQ(s.bytes_live, 100U);

  first = Buffer();
  s = dev.stats();
  EXPECT_EQ(s.buffers_live, 0U);
  EXPECT_EQ(s.bytes_live, 0U);
}

// Uploads and downloads count the bytes actually copied, including through views and offsets;
// a transfer rejected as out of range counts nothing.
TEST_P(DeviceStats, TransferBytesAreCounted) {
  Device dev = make_device();
  Buffer b = dev.alloc(64, "b");
  const std::vector<std::uint8_t> sixteen(16, 1);
  b.upload(std::span<const std::uint8_t>(sixteen));
  b.upload(std::span<const std::uint8_t>(sixteen).first(8), 32);
  b.view(40, 24).upload(std::span<const std::uint8_t>(sixteen), 4);
  EXPECT_EQ(dev.stats().bytes_uploaded, 40U);
  EXPECT_THROW(b.upload(std::span<const std::uint8_t>(sixteen), 60), Error);
  EXPECT_EQ(dev.stats().bytes_uploaded, 40U);

  std::vector<std::byte> out(12);
  b.download(out);
  b.view(16, 48).download(std::span<std::byte>(out).first(4), 8);
  EXPECT_EQ(dev.stats().bytes_downloaded, 16U);
  (void)b.download<std::uint32_t>();
  EXPECT_EQ(dev.stats().bytes_downloaded, 80U);
  EXPECT_THROW(b.download(out, 60), Error);
  EXPECT_EQ(dev.stats().bytes_downloaded, 80U);
  EXPECT_EQ(dev.stats().bytes_uploaded, 40U);
}

// Host syncs count wait(), commit_and_wait() and wait_idle(), once per call; commit() alone is
// not a sync (seed section 15 item 8: wait_until_completed was not counted).
TEST_P(DeviceStats, SyncsCountHostWaits) {
  Device dev = make_device();
  Buffer a = upload_floats(dev, {1, 2, 3, 4}), b = upload_floats(dev, {5, 6, 7, 8});
  Buffer c = dev.alloc(kN * sizeof(float));
  const Submission s = commit_add(dev, a, b, c);
  EXPECT_EQ(dev.stats().syncs, 0U);
  s.wait();
  EXPECT_EQ(dev.stats().syncs, 1U);
  s.wait();
  EXPECT_EQ(dev.stats().syncs, 2U);
  dev.encoder().commit_and_wait();
  EXPECT_EQ(dev.stats().syncs, 3U);
  dev.wait_idle();
  EXPECT_EQ(dev.stats().syncs, 4U);
}

// command_buffers counts commits only; finish() counts recordings_finished and discard()
// counts command_buffers_discarded; all three add the dispatches they encoded.
TEST_P(DeviceStats, CommandBufferCountersFollowHowEncodersEnd) {
  Device dev = make_device();
  Buffer a = upload_floats(dev, {1, 2, 3, 4}), b = upload_floats(dev, {5, 6, 7, 8});
  Buffer c = dev.alloc(kN * sizeof(float));
  const Kernel add = dev.kernel("add_f32");
  const auto encode = [&](Encoder& enc) {
    enc.dispatch(add, cover(kN), {in(a), in(b), out(c), value(kN)});
  };

  Encoder committed = dev.encoder();
  encode(committed);
  Encoder finished = dev.encoder();
  encode(finished);
  encode(finished);
  Encoder discarded = dev.encoder();
  encode(discarded);
  encode(discarded);
  encode(discarded);
  EXPECT_EQ(dev.stats().dispatches_encoded, 0U);

  committed.commit_and_wait();
  Stats s = dev.stats();
  EXPECT_EQ(s.command_buffers, 1U);
  EXPECT_EQ(s.dispatches_encoded, 1U);
  (void)finished.finish();
  s = dev.stats();
  EXPECT_EQ(s.recordings_finished, 1U);
  EXPECT_EQ(s.command_buffers, 1U);
  EXPECT_EQ(s.dispatches_encoded, 3U);
  discarded.discard();
  s = dev.stats();
  EXPECT_EQ(s.command_buffers_discarded, 1U);
  EXPECT_EQ(s.command_buffers, 1U);
  EXPECT_EQ(s.dispatches_encoded, 6U);
  EXPECT_EQ(s.submissions_completed, 1U);
}

// Fence counters: one signal per signalling commit, one wait per waiting command buffer.
TEST_P(DeviceStats, FenceCountersCountSignalsAndWaits) {
  Device dev = make_device();
  Fence fence = dev.create_fence();
  dev.encoder().commit({}, {.signal = fence});
  for (int i = 0; i < 2; ++i) {
    Encoder waiter = dev.encoder();
    waiter.wait(fence);
    waiter.commit();
  }
  dev.encoder().commit({}, {.signal = fence});
  dev.encoder().commit();
  dev.wait_idle();
  const Stats s = dev.stats();
  EXPECT_EQ(s.fence_signals, 2U);
  EXPECT_EQ(s.fence_waits, 2U);
  EXPECT_EQ(s.command_buffers, 5U);
}

// Counters belong to one device: work on one device leaves another's counters alone.
TEST_P(DeviceStats, CountersArePerDevice) {
  Device busy = make_device();
  Device idle = make_device();
  Buffer a = upload_floats(busy, {1, 2, 3, 4});
  Buffer c = busy.alloc(kN * sizeof(float));
  commit_add(busy, a, a, c).wait();
  EXPECT_EQ(busy.stats().command_buffers, 1U);
  EXPECT_EQ(all_counters(idle.stats()),
            std::vector<std::uint64_t>(all_counters(Stats{}).size(), 0));
}

// Whether the activity of ResetZeroesEveryCounterButTheGauges drives `counter` on `backend`.
bool driven_by_reset_test(BackendKind backend, const std::string& counter) {
  // A failing submission needs a CPU-only failing kernel (a CUDA fault loses the device).
  if (counter == "submissions_failed") return false;
  // Validation mode is the CPU backend's; the CUDA backend ignores the option.
  if (counter == "dispatches_validated") return backend == BackendKind::Cpu;
  // Fusion needs the norm kernels (tests/ir/passes/pass_stats_test.cpp drives it).
  if (counter == "nodes_fused") return false;
  // Only the CUDA backend builds and caches graphs.
  if (counter.starts_with("graph_")) return backend == BackendKind::Cuda;
  // Every dispatch this test runs is encore's own, so every timing is attributed.
  if (counter == "profile_records_unattributed") return false;
  return true;
}

// Activity that drives every counter the backend can drive without CPU-only test kernels, so the
// reset is seen to clear each one; counters the backend does not drive read zero. reset_stats
// then zeroes everything but the gauges (live buffers and bytes, cached graph executables).
TEST_P(DeviceStats, ResetZeroesEveryCounterButTheGauges) {
  DeviceOptions options;
  options.validate = true;                  // CPU: dispatches_validated
  options.graph_cache_capacity = 1;         // CUDA: every new structure evicts the last one
  options.profile = ProfileMode::Dispatch;  // the profiling counters
  Device dev = make_device(options);
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer b = upload_floats(dev, {5, 6, 7, 8}, "b");
  Buffer c = dev.alloc(kN * sizeof(float), "c");
  Buffer d = dev.alloc(kN * sizeof(float), "d");
  {
    run_counter_workout(dev, a, b, c, d);
    const Recording rec = [&] {
      Encoder again = dev.encoder();
      again.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
      return again.finish();
    }();
    dev.submit(rec).wait();
    dev.submit(rec).wait();               // CUDA: a cache hit
    for (const float v : {1.0F, 2.0F}) {  // CUDA: one structure, its value patched
      Encoder fill = dev.encoder();
      fill.dispatch(dev.kernel("fill_f32"), cover(kN), {out(d), value(v), value(kN)});
      fill.commit_and_wait();
    }
    Encoder dropped = dev.encoder();
    dropped.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
    (void)c.download<float>();
  }
  (void)dev.profile();  // CUDA hands over CUPTI's dispatch timings when the profile is taken
  Stats before = dev.stats();
  for (const auto& [name, counter] : named_counters(before)) {
    if (driven_by_reset_test(backend(), name)) {
      EXPECT_GT(*counter, 0U) << name;
    } else {
      EXPECT_EQ(*counter, 0U) << name << " is not driven on " << to_string(backend());
    }
  }

  dev.reset_stats();
  Stats s = dev.stats();
  EXPECT_EQ(s.buffers_live, 4U);
  EXPECT_EQ(s.bytes_live, 4 * kN * sizeof(float));
  EXPECT_EQ(s.graph_cache_entries, backend() == BackendKind::Cuda ? 1U : 0U);
  Stats expected;
  expected.buffers_live = s.buffers_live;
  expected.bytes_live = s.bytes_live;
  expected.graph_cache_entries = s.graph_cache_entries;
  EXPECT_EQ(all_counters(s), all_counters(expected));
}

ENCORE_INSTANTIATE_BACKEND_SUITE(DeviceStats);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
