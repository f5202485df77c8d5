// Per-device counters that need the CPU backend's test kernels or validation mode: failed
// submissions, validated dispatches, and a reset after activity that drives every counter the
// CPU backend has; plus Stats::to_string. (The counters on every backend, with those only one
// backend drives named per backend: tests/backends/common/stats_test.cpp.)

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::all_counters;
using testing::cover;
using testing::make_cpu_device;
using testing::named_counters;
using testing::run_counter_workout;
using testing::upload_floats;

constexpr std::uint32_t kN = 4;

// Commits c = a + b and returns the submission (not waited for).
Submission commit_add(Device& dev, const Buffer& a, const Buffer& b, const Buffer& c) {
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
  return enc.commit();
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

// reset_stats zeroes every counter except the live-buffer gauges, which keep tracking what is
// alive (and go down, not wrap, when buffers allocated before the reset are released).
TEST(Stats, ResetZeroesEverythingButTheLiveGauges) {
  DeviceOptions options;
  options.validate = true;
  options.profile = ProfileMode::Dispatch;
  Device dev = make_cpu_device(options);
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer b = upload_floats(dev, {5, 6, 7, 8}, "b");
  Buffer c = dev.alloc(kN * sizeof(float), "c");
  Buffer d = dev.alloc(kN * sizeof(float), "d");
  {
    run_counter_workout(dev, a, b, c, d);
    Encoder dropped = dev.encoder();
    dropped.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
    Encoder failing = dev.encoder();
    failing.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(a)});
    EXPECT_THROW(failing.commit_and_wait(), Error);
    (void)c.download<float>();
  }
  Stats before = dev.stats();
  // The activity above drives every counter the CPU backend has, so the reset below is seen to
  // clear each one. (The graph_* counters belong to the CUDA backend; its tests drive them, as
  // CUDA's profiling tests would any profile_records_unattributed, which the CPU never has.
  // Fusion needs the norm kernels: tests/ir/passes/pass_stats_test.cpp drives nodes_fused.)
  for (const auto& [name, counter] : named_counters(before)) {
    if (name.starts_with("graph_") || name == "nodes_fused" ||
        name == "profile_records_unattributed") {
      continue;
    }
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
  EXPECT_EQ(lines.size(), named_counters(s).size()) << text;
  EXPECT_EQ(text.back(), '\n');
  for (const auto& [name, counter] : named_counters(s)) {
    const std::string line = name + " " + std::to_string(*counter);
    EXPECT_NE(std::find(lines.begin(), lines.end(), line), lines.end()) << "missing: " << line;
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
