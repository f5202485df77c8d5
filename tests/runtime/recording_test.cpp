// Recordings with the CPU backend's test kernels: a failing replay names the dispatch and label,
// nodes record op kinds, labels and launches (fail_kernel stands for a kernel without an op
// kind), and set() while a blocked kernel holds a replay in flight affects only later replays.
// (Everything else about recordings runs on every backend:
// tests/backends/common/recording_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::error_from;
using testing::Gate;
using testing::GateOpener;
using testing::make_cpu_device;
using testing::make_test_registry;
using testing::mentions;

constexpr std::uint32_t kN = 4;
constexpr std::uint64_t kBytes = kN * sizeof(float);

// A failing dispatch in a replay fails that submission with KernelFailed naming the dispatch and
// the submission's label.
TEST(Recording, FailingReplayNamesTheDispatchAndLabel) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(x)}, {.label = "boom"});
  const Recording rec = enc.finish();
  const Submission s = dev.submit(rec, "replay.bad");
  const Error e = error_from([&] { s.wait(); });
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed) << e.what();
  EXPECT_TRUE(mentions(e.what(), "'boom'"));
  EXPECT_TRUE(mentions(e.what(), "fail_kernel"));
  EXPECT_TRUE(mentions(e.what(), "command buffer 'replay.bad'"));
  EXPECT_EQ(dev.stats().submissions_failed, 1U);
}

// Nodes carry the kernel, the kernel's default op kind or the dispatch's override, the dispatch
// label and the launch exactly as given; the recording carries its label, ordering and device.
TEST(Recording, RecordsKernelOpKindLabelAndLaunch) {
  Device dev = make_cpu_device();
  Buffer a = dev.alloc(kBytes, "a"), b = dev.alloc(kBytes, "b"), c = dev.alloc(kBytes, "c");
  Encoder enc = dev.encoder({.ordering = Ordering::Barriers});
  const Launch shaped = Launch::groups({2, 3, 1}, {64, 2, 1}).shared(256);
  enc.dispatch(dev.kernel("add_f32"), shaped, {in(a), in(b), out(c), value(kN)},
               {.label = "blk.0.add"});
  enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)},
               {.op = OpKind::RmsNorm, .label = "blk.0.norm"});
  enc.dispatch(dev.kernel("fail_kernel"), cover(kN), {in(a)});
  enc.set_label("step");
  const Recording rec = enc.finish();

  EXPECT_EQ(rec.label(), "step");
  EXPECT_EQ(rec.ordering(), Ordering::Barriers);
  EXPECT_EQ(rec.device_id(), dev.id());
  ASSERT_EQ(rec.node_count(), 3U);
  const NodeInfo first = rec.node(0);
  EXPECT_EQ(first.kind, NodeKind::Dispatch);
  EXPECT_EQ(first.index, 0U);
  EXPECT_EQ(first.kernel, "add_f32");
  EXPECT_EQ(first.op, OpKind::ElemAdd);
  EXPECT_EQ(first.label, "blk.0.add");
  EXPECT_TRUE(first.launch == shaped);
  EXPECT_EQ(first.launch.shared_bytes(), 256U);
  const NodeInfo second = rec.node(1);
  EXPECT_EQ(second.op, OpKind::RmsNorm);
  EXPECT_EQ(second.label, "blk.0.norm");
  EXPECT_TRUE(second.launch == cover(kN));
  const NodeInfo third = rec.node(2);
  EXPECT_EQ(third.kernel, "fail_kernel");
  EXPECT_EQ(third.op, OpKind::Other);
  EXPECT_EQ(third.label, "");
  EXPECT_EQ(error_from([&] { (void)rec.node(3); }).code(), ErrorCode::OutOfRange);
}

// A submission takes the slot values at submit time: set() while it is in flight affects only
// later submissions.
TEST(Recording, SetAfterSubmitDoesNotChangeTheInFlightReplay) {
  auto gate = std::make_shared<Gate>();
  Device dev = make_cpu_device({}, make_test_registry(gate));
  GateOpener opener{gate};
  Buffer held = dev.alloc(16, "held");
  Buffer u = dev.alloc(4 * sizeof(std::uint32_t), "u");
  Encoder enc = dev.encoder({.ordering = Ordering::Serial});
  enc.dispatch(dev.kernel("gate_kernel"), Launch::groups(1, 1), {inout(held)});
  enc.dispatch(dev.kernel("fill_u32"), cover(4),
               {out(u), slot<std::uint32_t>("base", 10), value(4U)});
  Recording rec = enc.finish();

  const Submission in_flight = dev.submit(rec);
  gate->wait_for_arrivals(1);
  rec.set("base", 70U);
  gate->open();
  in_flight.wait();
  EXPECT_EQ(u.download<std::uint32_t>(), (std::vector<std::uint32_t>{10, 11, 12, 13}));
  dev.submit(rec).wait();
  EXPECT_EQ(u.download<std::uint32_t>(), (std::vector<std::uint32_t>{70, 71, 72, 73}));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
