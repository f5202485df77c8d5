// Fences with the CPU backend's test kernels (the port of the seed's EncoderSession tests): the
// completed value while a blocked kernel holds the signaller in flight, failure propagation
// through a fence, and a cross-device wait held until the signal. (Everything else about fences
// runs on every backend: tests/backends/common/fence_test.cpp.)

#include <chrono>
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
using testing::download_floats;
using testing::error_from;
using testing::Gate;
using testing::GateOpener;
using testing::make_cpu_device;
using testing::make_test_registry;
using testing::mentions;
using testing::upload_floats;

constexpr std::uint32_t kN = 4;

// out = x + y over kN floats.
void dispatch_add(Encoder& enc, const Kernel& add, const Buffer& x, const Buffer& y,
                  const Buffer& out_buf) {
  enc.dispatch(add, cover(kN), {in(x), in(y), out(out_buf), value(kN)});
}

// The completed value lags the signalled one while the signalling command buffer is in flight,
// and host_wait returns once it finished.
TEST(Fence, CompletedValueFollowsTheCommandBuffer) {
  auto gate = std::make_shared<Gate>();
  Device dev = make_cpu_device({}, make_test_registry(gate));
  GateOpener opener{gate};
  Buffer x = dev.alloc(16, "x");
  Fence fence = dev.create_fence();
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("gate_kernel"), Launch::groups(1, 1), {inout(x)});
  enc.commit("held", {.signal = fence});
  gate->wait_for_arrivals(1);
  EXPECT_EQ(fence.signaled_value(), 1U);
  EXPECT_EQ(fence.completed_value(), 0U);
  gate->open();
  fence.host_wait(1);
  EXPECT_EQ(fence.completed_value(), 1U);
}

// A fence signalled by a failing command buffer fails the command buffer that waits on it with
// DependencyFailed (its kernels never run), and host_wait on that value throws DependencyFailed.
TEST(Fence, FailedSignallerFailsTheWaiterWithDependencyFailed) {
  Device dev = make_cpu_device();
  Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
  Buffer c = dev.alloc(kN * sizeof(float), "c");
  Fence fence = dev.create_fence();

  Encoder producer = dev.encoder();
  producer.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(a)});
  const Submission failed = producer.commit("producer", {.signal = fence});

  Encoder consumer = dev.encoder();
  consumer.wait(fence);
  dispatch_add(consumer, dev.kernel("add_f32"), a, a, c);
  const Error e = error_from([&] { consumer.commit_and_wait("consumer"); });
  EXPECT_EQ(e.code(), ErrorCode::DependencyFailed) << e.what();
  EXPECT_TRUE(mentions(e.what(), "command buffer 'consumer'"));

  EXPECT_EQ(failed.status(), SubmissionStatus::Failed);
  ASSERT_TRUE(failed.error().has_value());
  EXPECT_EQ(failed.error()->code(), ErrorCode::KernelFailed);
  const Error host = error_from([&] { fence.host_wait(1); });
  EXPECT_EQ(host.code(), ErrorCode::DependencyFailed) << host.what();
  EXPECT_EQ(fence.completed_value(), 1U);  // finished, though it failed
  EXPECT_EQ(download_floats(c), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(dev.stats().submissions_failed, 2U);
}

// A command buffer on device B that waits on device A's fence does not start until A's
// signalling command buffer finished, then runs normally.
TEST(Fence, CrossDeviceWaitHoldsTheWaiterUntilTheSignal) {
  auto gate = std::make_shared<Gate>();
  Device dev_a = make_cpu_device({}, make_test_registry(gate));
  Device dev_b = make_cpu_device();
  GateOpener opener{gate};
  Fence fence = dev_a.create_fence();
  Buffer held = dev_a.alloc(16, "held");
  Encoder producer = dev_a.encoder();
  producer.dispatch(dev_a.kernel("gate_kernel"), Launch::groups(1, 1), {inout(held)});
  const Submission signaller = producer.commit("a.producer", {.signal = fence});

  Buffer x = upload_floats(dev_b, {1, 2, 3, 4}, "x");
  Buffer c = dev_b.alloc(kN * sizeof(float), "c");
  Encoder consumer = dev_b.encoder();
  consumer.wait(fence);
  dispatch_add(consumer, dev_b.kernel("add_f32"), x, x, c);
  const Submission waiter = consumer.commit("b.consumer");

  gate->wait_for_arrivals(1);
  EXPECT_FALSE(waiter.wait_for(std::chrono::milliseconds(5)));
  EXPECT_EQ(waiter.status(), SubmissionStatus::Committed);
  EXPECT_EQ(fence.wait_count(), 1U);
  EXPECT_EQ(fence.last_wait_value(), 1U);
  EXPECT_EQ(dev_b.stats().fence_waits, 1U);

  gate->open();
  waiter.wait();
  EXPECT_EQ(signaller.status(), SubmissionStatus::Completed);
  EXPECT_EQ(waiter.status(), SubmissionStatus::Completed);
  EXPECT_EQ(download_floats(c), (std::vector<float>{2, 4, 6, 8}));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
