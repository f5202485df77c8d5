// Explicit barriers: the no-op before the first dispatch, one count per recorded barrier, barrier
// nodes in finished recordings, and the per-device counters they feed (seed:
// tests/test_barrier_counter.rs, restated for per-device counters), on every backend. (Barriers
// against shuffled schedules: tests/runtime/encoder_barrier_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::download_floats;

using testing::AddProgram;
using testing::dispatch_add;
using testing::kAddSum;
using testing::make_add_program;

// The suite of this file, on the backend of its parameter (support/backend_test.h).
class EncoderBarrier : public testing::BackendTest {};

constexpr std::uint32_t kN = 4;

constexpr Ordering kAllOrderings[] = {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier,
                                      Ordering::AutoDag};

// A barrier on a fresh encoder has nothing to order: it is neither counted nor does it disturb
// the command buffer (seed: barrier_counter_skips_when_no_active_encoder).
TEST_P(EncoderBarrier, BarrierBeforeFirstDispatchIsNotCounted) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  enc.barrier();
  enc.barrier();
  EXPECT_EQ(enc.barrier_count(), 0U);
  dispatch_add(enc, p);
  EXPECT_EQ(enc.barrier_count(), 0U);
  enc.commit_and_wait();

  const Stats stats = dev.stats();
  EXPECT_EQ(stats.barriers_explicit, 0U);
  EXPECT_EQ(stats.dispatches_encoded, 1U);
  EXPECT_EQ(download_floats(p.c), kAddSum);
}

// In every ordering mode a leading barrier leaves no node: the recording starts with the
// dispatch, which has no barrier before it.
TEST_P(EncoderBarrier, BarrierBeforeFirstDispatchIsNotRecorded) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  for (Ordering ordering : kAllOrderings) {
    SCOPED_TRACE(to_string(ordering));
    Encoder enc = dev.encoder({.ordering = ordering});
    enc.barrier();
    dispatch_add(enc, p);
    const Recording rec = enc.finish();
    ASSERT_EQ(rec.node_count(), 1U);
    EXPECT_EQ(rec.barrier_count(), 0U);
    const NodeInfo node = rec.node(0);
    EXPECT_EQ(node.kind, NodeKind::Dispatch);
    EXPECT_FALSE(node.barrier_before.has_value());
  }
  EXPECT_EQ(dev.stats().barriers_explicit, 0U);
}

// One dispatch then three barriers adds exactly three, in every ordering mode, and the commit
// succeeds with the right result (seed: barrier_counter_increments_after_active_dispatch).
TEST_P(EncoderBarrier, EachBarrierAfterADispatchIsCounted) {
  Device dev = make_device();
  for (Ordering ordering : kAllOrderings) {
    SCOPED_TRACE(to_string(ordering));
    AddProgram p = make_add_program(dev);
    const Stats before = dev.stats();
    Encoder enc = dev.encoder({.ordering = ordering});
    dispatch_add(enc, p);
    enc.barrier();
    enc.barrier();
    enc.barrier();
    EXPECT_EQ(enc.barrier_count(), 3U);
    const Submission s = enc.commit_and_wait();
    EXPECT_EQ(s.status(), SubmissionStatus::Completed);
    EXPECT_EQ(enc.barrier_count(), 3U);  // still readable once committed

    const Stats after = dev.stats();
    EXPECT_EQ(after.barriers_explicit - before.barriers_explicit, 3U);
    EXPECT_EQ(after.barriers_inferred - before.barriers_inferred, 0U);
    EXPECT_EQ(after.dispatches_encoded - before.dispatches_encoded, 1U);
    EXPECT_EQ(download_floats(p.c), kAddSum);
  }
}

// Encoders add their barrier count to the device when the command buffer ends, not per call.
TEST_P(EncoderBarrier, BarrierCountReachesTheDeviceWhenTheCommandBufferEnds) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  enc.barrier();
  enc.barrier();
  EXPECT_EQ(dev.stats().barriers_explicit, 0U);
  EXPECT_EQ(dev.stats().dispatches_encoded, 0U);
  enc.commit_and_wait();
  EXPECT_EQ(dev.stats().barriers_explicit, 2U);
  EXPECT_EQ(dev.stats().dispatches_encoded, 1U);
}

// A discarded command buffer still reports the barriers it encoded (counts are added on commit,
// finish and discard alike).
TEST_P(EncoderBarrier, DiscardedEncoderAddsItsBarriers) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  enc.barrier();
  enc.discard();
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.barriers_explicit, 1U);
  EXPECT_EQ(stats.command_buffers_discarded, 1U);
  EXPECT_EQ(stats.command_buffers, 0U);
}

// A finished recording holds one explicit barrier node per barrier() call after the first
// dispatch, each linked to the barrier before it (seed: barrier_counter_skips_capture_mode, where
// take_capture().len()==3), and replays correctly.
TEST_P(EncoderBarrier, FinishedRecordingHoldsExplicitBarrierNodes) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  Buffer d = dev.alloc(kN * sizeof(float), "d");
  Encoder enc = dev.encoder({.ordering = Ordering::Barriers});
  // Nodes: #0 add, #1 barrier, #2 scale, #3 barrier, #4 barrier.
  dispatch_add(enc, p);
  enc.barrier();
  enc.dispatch(dev.kernel("scale_f32"), cover(kN), {in(p.c), out(d), value(2.0F), value(kN)});
  enc.barrier();
  enc.barrier();
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 5U);
  EXPECT_EQ(rec.dispatch_count(), 2U);
  EXPECT_EQ(rec.barrier_count(), 3U);
  const NodeKind expected_kinds[] = {NodeKind::Dispatch, NodeKind::Barrier, NodeKind::Dispatch,
                                     NodeKind::Barrier, NodeKind::Barrier};
  for (std::size_t i = 0; i < rec.node_count(); ++i) {
    SCOPED_TRACE(i);
    const NodeInfo node = rec.node(i);
    EXPECT_EQ(node.kind, expected_kinds[i]);
    if (node.kind == NodeKind::Barrier) {
      EXPECT_FALSE(node.inferred);
      EXPECT_TRUE(node.dependencies.empty());
    }
  }
  EXPECT_FALSE(rec.node(1).barrier_before.has_value());
  EXPECT_EQ(rec.node(2).barrier_before, 1U);
  EXPECT_EQ(rec.node(3).barrier_before, 1U);
  EXPECT_EQ(rec.node(4).barrier_before, 3U);

  const Stats stats = dev.stats();
  EXPECT_EQ(stats.barriers_explicit, 3U);
  EXPECT_EQ(stats.recordings_finished, 1U);
  EXPECT_EQ(stats.command_buffers, 0U);

  dev.submit(rec).wait();
  EXPECT_EQ(download_floats(d), (std::vector<float>{12, 16, 20, 24}));
}

// reset_stats zeroes the barrier and dispatch counts; later barriers count from zero.
TEST_P(EncoderBarrier, ResetStatsZeroesBarrierCounts) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  Encoder first = dev.encoder();
  dispatch_add(first, p);
  first.barrier();
  first.barrier();
  first.commit_and_wait();
  ASSERT_EQ(dev.stats().barriers_explicit, 2U);

  dev.reset_stats();
  Stats stats = dev.stats();
  EXPECT_EQ(stats.barriers_explicit, 0U);
  EXPECT_EQ(stats.dispatches_encoded, 0U);
  EXPECT_EQ(stats.command_buffers, 0U);

  Encoder second = dev.encoder();
  dispatch_add(second, p);
  second.barrier();
  second.commit_and_wait();
  stats = dev.stats();
  EXPECT_EQ(stats.barriers_explicit, 1U);
  EXPECT_EQ(stats.dispatches_encoded, 1U);
  EXPECT_EQ(stats.command_buffers, 1U);
}

ENCORE_INSTANTIATE_BACKEND_SUITE(EncoderBarrier);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
