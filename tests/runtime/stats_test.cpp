// Per-device counters (seed section 4 and section 15 items 7 and 8, where counters were process
// globals and inconsistent): every counter the CPU backend drives moves as documented, counters
// belong to one device, reset_stats zeroes all but the live gauges, and to_string prints one
// line per counter.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {

using testing::cover;
using testing::make_cpu_device;
using testing::upload_floats;

constexpr std::uint32_t kN = 4;

// Every counter of `s` with its name, in declaration order.
std::vector<std::pair<std::string, std::uint64_t*>> named_counters(Stats& s) {
  return {
      {"dispatches_encoded", &s.dispatches_encoded},
      {"dispatches_replayed", &s.dispatches_replayed},
      {"barriers_explicit", &s.barriers_explicit},
      {"barriers_inferred", &s.barriers_inferred},
      {"dispatches_concurrent", &s.dispatches_concurrent},
      {"edges_inferred", &s.edges_inferred},
      {"edges_pruned", &s.edges_pruned},
      {"command_buffers", &s.command_buffers},
      {"command_buffers_discarded", &s.command_buffers_discarded},
      {"recordings_finished", &s.recordings_finished},
      {"recordings_submitted", &s.recordings_submitted},
      {"submissions_completed", &s.submissions_completed},
      {"submissions_failed", &s.submissions_failed},
      {"syncs", &s.syncs},
      {"fence_signals", &s.fence_signals},
      {"fence_waits", &s.fence_waits},
      {"allocations", &s.allocations},
      {"bytes_allocated", &s.bytes_allocated},
      {"buffers_live", &s.buffers_live},
      {"bytes_live", &s.bytes_live},
      {"bytes_uploaded", &s.bytes_uploaded},
      {"bytes_downloaded", &s.bytes_downloaded},
      {"dispatches_validated", &s.dispatches_validated},
      {"graph_instantiations", &s.graph_instantiations},
      {"graph_cache_hits", &s.graph_cache_hits},
      {"graph_nodes_patched", &s.graph_nodes_patched},
      {"graph_cache_evictions", &s.graph_cache_evictions},
      {"graph_cache_entries", &s.graph_cache_entries},
  };
}

std::vector<std::uint64_t> all_counters(Stats s) {
  std::vector<std::uint64_t> out;
  for (const auto& [name, counter] : named_counters(s)) {
    out.push_back(*counter);
  }
  return out;
}

// Commits c = a + b and returns the submission (not waited for).
Submission commit_add(Device& dev, const Buffer& a, const Buffer& b, const Buffer& c) {
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
  return enc.commit();
}

// A fresh device starts with every counter at zero.
TEST(Stats, FreshDeviceCountsNothing) {
  Device dev = make_cpu_device();
  EXPECT_EQ(all_counters(dev.stats()), std::vector<std::uint64_t>(all_counters(Stats{}).size(), 0));
}

// Allocations count buffers and bytes; the live gauges also go down when the last handle of a
// buffer goes, while the allocation totals do not. Copies of a handle are not allocations.
TEST(Stats, AllocationCountersAndLiveGauges) {
  Device dev = make_cpu_device();
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
TEST(Stats, TransferBytesAreCounted) {
  Device dev = make_cpu_device();
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
TEST(Stats, SyncsCountHostWaits) {
  Device dev = make_cpu_device();
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

// Completed and failed submissions are counted apart, for commits and replays alike, once each
// however often they are waited for.
TEST(Stats, SubmissionsCountCompletedAndFailed) {
  Device dev = make_cpu_device();
  Buffer a = upload_floats(dev, {1, 2, 3, 4}), b = upload_floats(dev, {5, 6, 7, 8});
  Buffer c = dev.alloc(kN * sizeof(float));
  commit_add(dev, a, b, c).wait();
  commit_add(dev, a, b, c).wait();
  Encoder failing = dev.encoder();
  failing.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(a)});
  const Recording rec = failing.finish();
  EXPECT_THROW(dev.submit(rec).wait(), Error);
  const Submission again = dev.submit(rec);
  EXPECT_THROW(again.wait(), Error);
  EXPECT_THROW(again.wait(), Error);
  const Stats s = dev.stats();
  EXPECT_EQ(s.submissions_completed, 2U);
  EXPECT_EQ(s.submissions_failed, 2U);
  EXPECT_EQ(s.command_buffers, 2U);
  EXPECT_EQ(s.recordings_submitted, 2U);
}

// command_buffers counts commits only; finish() counts recordings_finished and discard()
// counts command_buffers_discarded; all three add the dispatches they encoded.
TEST(Stats, CommandBufferCountersFollowHowEncodersEnd) {
  Device dev = make_cpu_device();
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
TEST(Stats, FenceCountersCountSignalsAndWaits) {
  Device dev = make_cpu_device();
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

// In validation mode every dispatch run is counted as validated; otherwise none is.
TEST(Stats, ValidationCountsValidatedDispatches) {
  DeviceOptions options;
  options.validate = true;
  Device checked = make_cpu_device(options);
  Buffer a = upload_floats(checked, {1, 2, 3, 4}), b = upload_floats(checked, {5, 6, 7, 8});
  Buffer c = checked.alloc(kN * sizeof(float));
  Encoder enc = checked.encoder();
  enc.dispatch(checked.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
  enc.dispatch(checked.kernel("add_f32"), cover(kN), {in(c), in(b), out(a), value(kN)});
  enc.commit_and_wait();
  EXPECT_EQ(checked.stats().dispatches_validated, 2U);

  Device plain = make_cpu_device();
  Buffer x = upload_floats(plain, {1, 2, 3, 4});
  Buffer y = plain.alloc(kN * sizeof(float));
  commit_add(plain, x, x, y).wait();
  EXPECT_EQ(plain.stats().dispatches_validated, 0U);
}

// Counters belong to one device: work on one device leaves another's counters alone.
TEST(Stats, CountersArePerDevice) {
  Device busy = make_cpu_device();
  Device idle = make_cpu_device();
  Buffer a = upload_floats(busy, {1, 2, 3, 4});
  Buffer c = busy.alloc(kN * sizeof(float));
  commit_add(busy, a, a, c).wait();
  EXPECT_EQ(busy.stats().command_buffers, 1U);
  EXPECT_EQ(all_counters(idle.stats()),
            std::vector<std::uint64_t>(all_counters(Stats{}).size(), 0));
}

// reset_stats zeroes every counter except the live-buffer gauges, which keep tracking what is
// alive (and go down, not wrap, when buffers allocated before the reset are released).
TEST(Stats, ResetZeroesEverythingButTheLiveGauges) {
  DeviceOptions options;
  options.validate = true;
  Device dev = make_cpu_device(options);
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer b = upload_floats(dev, {5, 6, 7, 8}, "b");
  Buffer c = dev.alloc(kN * sizeof(float), "c");
  Buffer d = dev.alloc(kN * sizeof(float), "d");
  Fence fence = dev.create_fence();
  {
    Encoder enc = dev.encoder({.ordering = Ordering::AutoBarrier});
    enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
    enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(c), in(b), out(a), value(kN)});
    enc.barrier();
    enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
    enc.commit_and_wait({}, {.signal = fence});
    Encoder dag = dev.encoder();
    dag.wait(fence);
    dag.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
    dag.dispatch(dev.kernel("copy_f32"), cover(kN), {in(c), out(b), value(kN)});
    dag.dispatch(dev.kernel("copy_f32"), cover(kN), {in(c), out(d), value(kN)});
    dag.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});  // prunes
    const Recording rec = dag.finish();
    dev.submit(rec).wait();
    Encoder dropped = dev.encoder();
    dropped.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
    Encoder failing = dev.encoder();
    failing.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(a)});
    EXPECT_THROW(failing.commit_and_wait(), Error);
    (void)c.download<float>();
  }
  Stats before = dev.stats();
  // The activity above drives every counter the CPU backend has, so the reset below is seen to
  // clear each one. (The graph_* counters belong to the CUDA backend; its tests drive them.)
  for (const auto& [name, counter] : named_counters(before)) {
    if (name.starts_with("graph_")) continue;
    EXPECT_GT(*counter, 0U) << name;
  }

  dev.reset_stats();
  Stats s = dev.stats();
  EXPECT_EQ(s.buffers_live, 4U);
  EXPECT_EQ(s.bytes_live, 4 * kN * sizeof(float));
  Stats expected;
  expected.buffers_live = s.buffers_live;
  expected.bytes_live = s.bytes_live;
  EXPECT_EQ(all_counters(s), all_counters(expected));

  c = Buffer();
  s = dev.stats();
  EXPECT_EQ(s.buffers_live, 3U);
  EXPECT_EQ(s.bytes_live, 3 * kN * sizeof(float));
  EXPECT_EQ(s.allocations, 0U);
}

// to_string prints one "name value" line per counter, every counter by its field name.
TEST(Stats, ToStringHasOneLinePerCounter) {
  Stats s;
  std::uint64_t next = 101;
  for (const auto& [name, counter] : named_counters(s)) {
    *counter = next++;
  }
  const std::string text = s.to_string();
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  EXPECT_EQ(lines.size(), 28U) << text;
  EXPECT_EQ(text.back(), '\n');
  for (const auto& [name, counter] : named_counters(s)) {
    const std::string line = name + " " + std::to_string(*counter);
    EXPECT_NE(std::find(lines.begin(), lines.end(), line), lines.end()) << "missing: " << line;
  }
}

}  // namespace
}  // namespace encore
