// Fences between command buffers, the port of the seed's EncoderSession tests
// (encoder_session_multistage.rs, encoder_session_cb_count_smoke.rs,
// encoder_session_wait_event_smoke.rs), on every backend: signalled and completed values over
// rounds, waits and their counters, results across fenced stages, bad values and fences of another
// device. (Failure propagation through a fence and waits held by a blocked kernel need CPU-only
// test kernels: tests/runtime/fence_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::download_floats;
using testing::error_from;
using testing::mentions;
using testing::upload_floats;

// The suite of this file, on the backend of its parameter (support/backend_test.h).
class Fences : public testing::BackendTest {};

constexpr std::uint32_t kN = 4;

// out = x + y over kN floats.
void dispatch_add(Encoder& enc, const Kernel& add, const Buffer& x, const Buffer& y,
                  const Buffer& out_buf) {
  enc.dispatch(add, cover(kN), {in(x), in(y), out(out_buf), value(kN)});
}

// A new fence has signalled, completed and waited for nothing; a null fence is unusable.
TEST_P(Fences, FreshFenceHasZeroCounters) {
  Device dev = make_device();
  const Fence fence = dev.create_fence();
  ASSERT_TRUE(fence);
  EXPECT_EQ(fence.signaled_value(), 0U);
  EXPECT_EQ(fence.completed_value(), 0U);
  EXPECT_EQ(fence.wait_count(), 0U);
  EXPECT_EQ(fence.last_wait_value(), 0U);

  const Fence null_fence;
  EXPECT_FALSE(null_fence);
  EXPECT_EQ(error_from([&] { (void)null_fence.signaled_value(); }).code(), ErrorCode::InvalidState);
  Encoder enc = dev.encoder();
  EXPECT_EQ(error_from([&] { enc.wait(null_fence); }).code(), ErrorCode::InvalidArgument);
}

// Seed test_session_fence_event_signal_wait_round_trip: three signalling commits take values 1,
// 2, 3 as they are committed, and completed_value follows once each is waited for.
TEST_P(Fences, EachSignallingCommitTakesTheNextValue) {
  Device dev = make_device();
  const Kernel add = dev.kernel("add_f32");
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer b = upload_floats(dev, {5, 6, 7, 8}, "b");
  Fence fence = dev.create_fence();
  for (std::uint64_t round = 1; round <= 3; ++round) {
    SCOPED_TRACE(round);
    Buffer c = dev.alloc(kN * sizeof(float), "c");
    Encoder enc = dev.encoder();
    dispatch_add(enc, add, a, b, c);
    const Submission s = enc.commit("round", {.signal = fence});
    EXPECT_EQ(fence.signaled_value(), round);
    s.wait();
    EXPECT_EQ(fence.completed_value(), round);
    EXPECT_EQ(download_floats(c), (std::vector<float>{6, 8, 10, 12}));
  }
  EXPECT_EQ(dev.stats().fence_signals, 3U);
  EXPECT_EQ(fence.wait_count(), 0U);
}

// A fence value and the submission that signals it finish together: as soon as the value reads
// completed the submission reports Completed, and once the submission's wait returns the value
// has completed. Polled without blocking and repeated, since a wrong order in the completion
// path only shows in a narrow window.
TEST_P(Fences, SignallerIsFinishedExactlyWhenItsValueCompletes) {
  Device dev = make_device();
  Buffer y = dev.alloc(kN * sizeof(float), "y");
  const Kernel fill = dev.kernel("fill_f32");
  Fence fence = dev.create_fence();
  for (std::uint64_t round = 1; round <= 200; ++round) {
    SCOPED_TRACE(round);
    Encoder enc = dev.encoder();
    enc.dispatch(fill, cover(kN), {out(y), value(1.0F), value(kN)});
    const Submission s = enc.commit({}, {.signal = fence});
    if (round % 2 == 1) {
      while (fence.completed_value() < round) {
      }
      ASSERT_EQ(s.status(), SubmissionStatus::Completed);
    } else {
      s.wait();
      ASSERT_EQ(fence.completed_value(), round);
    }
  }
  fence.host_wait(200);
  EXPECT_EQ(dev.stats().submissions_completed, 200U);
}

// A command buffer that waits on a fence is counted on the fence (wait_count, last_wait_value:
// the latest committed signal) and in the device's fence_waits.
TEST_P(Fences, WaitingEncoderIsCountedOnTheFence) {
  Device dev = make_device();
  Fence fence = dev.create_fence();
  dev.encoder().commit("signal.1", {.signal = fence});
  Encoder waiter = dev.encoder();
  waiter.wait(fence);
  EXPECT_EQ(fence.wait_count(), 0U);  // registered when committed
  waiter.commit_and_wait("waits.1");
  EXPECT_EQ(fence.wait_count(), 1U);
  EXPECT_EQ(fence.last_wait_value(), 1U);

  dev.encoder().commit("signal.2", {.signal = fence});
  Encoder second = dev.encoder();
  second.wait(fence);
  second.commit_and_wait("waits.2");
  EXPECT_EQ(fence.wait_count(), 2U);
  EXPECT_EQ(fence.last_wait_value(), 2U);
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.fence_waits, 2U);
  EXPECT_EQ(stats.fence_signals, 2U);
}

// Seed test_begin_stage_then_commit_stage_drains / test_session_fence_stage_then_reset: a stage
// fenced into the next one computes [10,20,30,40]+[1,2,3,4] = [11,22,33,44], and the next stage
// reads it without a host sync between them.
TEST_P(Fences, StagesOrderedByAFenceComputeCorrectResults) {
  Device dev = make_device();
  const Kernel add = dev.kernel("add_f32");
  Buffer x = upload_floats(dev, {10, 20, 30, 40}, "x");
  Buffer y = upload_floats(dev, {1, 2, 3, 4}, "y");
  Buffer z = upload_floats(dev, {96, 186, 276, 366}, "z");
  Buffer out1 = dev.alloc(kN * sizeof(float), "out1");
  Buffer out2 = dev.alloc(kN * sizeof(float), "out2");
  Fence fence = dev.create_fence();

  Encoder stage1 = dev.encoder();
  dispatch_add(stage1, add, x, y, out1);
  const Submission first = stage1.commit("stage1.fence", {.signal = fence});
  EXPECT_EQ(first.label(), "stage1.fence");

  Encoder stage2 = dev.encoder();
  stage2.wait(fence);
  dispatch_add(stage2, add, out1, z, out2);
  const Submission second = stage2.commit_and_wait("stage2");
  EXPECT_EQ(second.label(), "stage2");
  EXPECT_EQ(first.status(), SubmissionStatus::Completed);
  EXPECT_EQ(download_floats(out1), (std::vector<float>{11, 22, 33, 44}));
  EXPECT_EQ(download_floats(out2), (std::vector<float>{107, 208, 309, 410}));
  EXPECT_EQ(fence.completed_value(), 1U);
}

// Seed encoder_session_cb_count_smoke: five steps of (attention CB + FFN CB) cost 10 command
// buffers; five fenced command buffers doing the same work cost 5, end with fence value 5 and
// 4 waits, and compute the same numbers.
TEST_P(Fences, FencedStagesUseHalfTheCommandBuffers) {
  Device dev = make_device();
  const Kernel add = dev.kernel("add_f32");
  const Kernel scale = dev.kernel("scale_f32");
  Buffer x = upload_floats(dev, {1, 2, 3, 4}, "x");
  Buffer attn = dev.alloc(kN * sizeof(float), "attn");
  Buffer ffn = dev.alloc(kN * sizeof(float), "ffn");

  // Plain path: one command buffer per phase.
  for (int step = 0; step < 5; ++step) {
    Encoder attention = dev.encoder();
    dispatch_add(attention, add, x, x, attn);
    attention.commit("attn." + std::to_string(step));
    Encoder feed_forward = dev.encoder();
    feed_forward.dispatch(scale, cover(kN), {in(attn), out(ffn), value(3.0F), value(kN)});
    feed_forward.commit("ffn." + std::to_string(step));
  }
  dev.wait_idle();
  const std::uint64_t plain = dev.stats().command_buffers;
  EXPECT_EQ(plain, 10U);
  EXPECT_EQ(download_floats(ffn), (std::vector<float>{6, 12, 18, 24}));

  // Session path: both phases in one command buffer, steps chained by a fence.
  dev.reset_stats();
  Buffer ffn_session = dev.alloc(kN * sizeof(float), "ffn_session");
  Fence fence = dev.create_fence();
  for (int step = 0; step < 5; ++step) {
    Encoder enc = dev.encoder();
    if (step > 0) {
      enc.wait(fence);
    }
    dispatch_add(enc, add, x, x, attn);
    enc.barrier();
    enc.dispatch(scale, cover(kN), {in(attn), out(ffn_session), value(3.0F), value(kN)});
    enc.commit("step." + std::to_string(step), {.signal = fence});
  }
  fence.host_wait(5);
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.command_buffers, 5U);
  EXPECT_LE(stats.command_buffers * 2, plain);
  EXPECT_EQ(fence.signaled_value(), 5U);
  EXPECT_EQ(fence.completed_value(), 5U);
  EXPECT_EQ(fence.wait_count(), 4U);
  EXPECT_EQ(stats.fence_signals, 5U);
  EXPECT_EQ(stats.fence_waits, 4U);
  EXPECT_EQ(download_floats(ffn_session), (std::vector<float>{6, 12, 18, 24}));
}

// Seed encoder_session_wait_event_smoke: the i-th fence sets the value to i+1, the i-th wait
// sets wait_count and last_wait_value to i+1; the final state is 5 / 4 / 4 and stays so after
// everything completed.
TEST_P(Fences, SignalAndWaitCountersAdvanceStepByStep) {
  Device dev = make_device();
  Fence fence = dev.create_fence();
  for (std::uint64_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    Encoder enc = dev.encoder();
    if (i > 0) {
      enc.wait(fence);
    }
    enc.commit({}, {.signal = fence});
    EXPECT_EQ(fence.signaled_value(), i + 1);
    EXPECT_EQ(fence.wait_count(), i);
    EXPECT_EQ(fence.last_wait_value(), i);
  }
  fence.host_wait(5);
  EXPECT_EQ(fence.signaled_value(), 5U);
  EXPECT_EQ(fence.wait_count(), 4U);
  EXPECT_EQ(fence.last_wait_value(), 4U);
  EXPECT_EQ(fence.completed_value(), 5U);
}

// host_wait on a value no commit will ever signal throws InvalidArgument instead of hanging;
// committed values (and 0) are fine.
TEST_P(Fences, HostWaitOnAnUncommittedValueThrowsInvalidArgument) {
  Device dev = make_device();
  Fence fence = dev.create_fence();
  const Error never = error_from([&] { fence.host_wait(1); });
  EXPECT_EQ(never.code(), ErrorCode::InvalidArgument) << never.what();
  EXPECT_TRUE(mentions(never.what(), "1"));
  fence.host_wait(0);

  dev.encoder().commit("one", {.signal = fence});
  fence.host_wait(1);
  const Error beyond = error_from([&] { fence.host_wait(2); });
  EXPECT_EQ(beyond.code(), ErrorCode::InvalidArgument) << beyond.what();
  EXPECT_TRUE(mentions(beyond.what(), "2"));
}

// Signalling another device's fence is WrongDevice; the encoder stays Open with its work, and
// neither the fence nor the device's counters move until a valid commit.
TEST_P(Fences, SignallingAnotherDevicesFenceIsWrongDevice) {
  Device dev_a = make_device();
  Device dev_b = make_device();
  Fence foreign = dev_b.create_fence();
  Buffer x = upload_floats(dev_a, {1, 2, 3, 4}, "x");
  Buffer c = dev_a.alloc(kN * sizeof(float), "c");
  Encoder enc = dev_a.encoder();
  dispatch_add(enc, dev_a.kernel("add_f32"), x, x, c);

  const Error e = error_from([&] { enc.commit("cross", {.signal = foreign}); });
  EXPECT_EQ(e.code(), ErrorCode::WrongDevice) << e.what();
  EXPECT_EQ(enc.state(), EncoderState::Open);
  EXPECT_EQ(enc.dispatch_count(), 1U);
  EXPECT_EQ(foreign.signaled_value(), 0U);
  EXPECT_EQ(dev_a.stats().command_buffers, 0U);
  EXPECT_EQ(dev_a.stats().fence_signals, 0U);

  enc.commit_and_wait("local");
  EXPECT_EQ(download_floats(c), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(dev_a.stats().command_buffers, 1U);

  Encoder recorder = dev_a.encoder();
  dispatch_add(recorder, dev_a.kernel("add_f32"), x, x, c);
  const Recording rec = recorder.finish();
  EXPECT_EQ(error_from([&] { dev_a.submit(rec, "replay", {.signal = foreign}); }).code(),
            ErrorCode::WrongDevice);
  EXPECT_EQ(dev_a.stats().recordings_submitted, 0U);
}

ENCORE_INSTANTIATE_BACKEND_SUITE(Fences);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
