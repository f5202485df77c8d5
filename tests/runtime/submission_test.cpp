// Committing command buffers with the CPU backend's test kernels: status while a blocked kernel
// holds a submission in flight, real kernel failures and how they propagate (the device keeps
// working), and buffer retention while the work is in flight (seed:
// test_commit_and_wait_propagates_inner_cb_error, test_unretained_refs.rs; section 15 item 11).
// (Everything else about submissions runs on every backend:
// tests/backends/common/submission_test.cpp.)

#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <optional>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::download_floats;
using testing::error_from;
using testing::Gate;
using testing::GateOpener;
using testing::make_cpu_device;
using testing::make_test_registry;
using testing::mentions;

using testing::AddProgram;
using testing::dispatch_add;
using testing::kAddSum;
using testing::make_add_program;

// A submission is Committed while its work is held in flight and Completed once it finished;
// time() is zero until then, and wait_for() reports whether it finished.
TEST(Submission, StatusGoesFromCommittedToCompleted) {
  auto gate = std::make_shared<Gate>();
  Device dev = make_cpu_device({}, make_test_registry(gate));
  GateOpener opener{gate};
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("gate_kernel"), Launch::groups(1, 1), {inout(x)});
  const Submission s = enc.commit("held");
  gate->wait_for_arrivals(1);
  EXPECT_EQ(s.status(), SubmissionStatus::Committed);
  EXPECT_FALSE(s.wait_for(std::chrono::milliseconds(1)));
  EXPECT_EQ(s.time(), std::chrono::nanoseconds(0));
  EXPECT_FALSE(s.error().has_value());

  gate->open();
  s.wait();
  EXPECT_EQ(s.status(), SubmissionStatus::Completed);
  EXPECT_TRUE(s.wait_for(std::chrono::milliseconds(0)));
}

// A kernel that reports an error fails commit_and_wait with KernelFailed; what() names the
// dispatch (index and label), the kernel and the command buffer, and keeps the kernel's message
// (seed: test_commit_and_wait_propagates_inner_cb_error, with a real failure this time).
TEST(Submission, KernelFailureThrowsFromCommitAndWaitNamingDispatchKernelAndCommandBuffer) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  enc.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(p.a)}, {.label = "blk.3.bad"});
  const Error e = error_from([&] { enc.commit_and_wait("step.7"); });
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed) << e.what();
  EXPECT_TRUE(mentions(e.what(), "KernelFailed"));
  EXPECT_TRUE(mentions(e.what(), "injected failure"));
  EXPECT_TRUE(mentions(e.what(), "fail_kernel"));
  EXPECT_TRUE(mentions(e.what(), "#1"));
  EXPECT_TRUE(mentions(e.what(), "'blk.3.bad'"));
  EXPECT_TRUE(mentions(e.what(), "command buffer 'step.7'"));
  EXPECT_EQ(e.message(), "injected failure");
  EXPECT_FALSE(e.context().empty());
  EXPECT_EQ(enc.state(), EncoderState::Committed);
}

// A kernel that throws a std::exception also fails the submission with KernelFailed, carrying
// the exception's text and naming the dispatch.
TEST(Submission, StdExceptionFromAKernelBecomesKernelFailed) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("throw_std"), Launch::groups(1, 1), {in(x)}, {.label = "thrower"});
  const Error e = error_from([&] { enc.commit_and_wait("cb.std"); });
  EXPECT_EQ(e.code(), ErrorCode::KernelFailed) << e.what();
  EXPECT_TRUE(mentions(e.what(), "std failure"));
  EXPECT_TRUE(mentions(e.what(), "throw_std"));
  EXPECT_TRUE(mentions(e.what(), "'thrower'"));
  EXPECT_TRUE(mentions(e.what(), "command buffer 'cb.std'"));
}

// A failed submission keeps its error: status() is Failed, error() holds it, and wait() throws
// it on every call, not only the first.
TEST(Submission, FailedSubmissionThrowsOnEveryWait) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(x)}, {.label = "bad"});
  const Submission s = enc.commit("failing");
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Error e = error_from([&] { s.wait(); });
    EXPECT_EQ(e.code(), ErrorCode::KernelFailed);
    EXPECT_TRUE(mentions(e.what(), "command buffer 'failing'"));
  }
  EXPECT_EQ(s.status(), SubmissionStatus::Failed);
  const std::optional<Error> held = s.error();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->code(), ErrorCode::KernelFailed);
  EXPECT_TRUE(mentions(held->what(), "fail_kernel"));
  EXPECT_TRUE(mentions(held->what(), "'bad'"));
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.submissions_failed, 1U);
  EXPECT_EQ(stats.submissions_completed, 0U);
}

// A failed submission does not poison the device: the next command buffer runs and computes.
TEST(Submission, LaterSubmissionRunsAfterAFailure) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder bad = dev.encoder();
  bad.dispatch(dev.kernel("fail_kernel"), Launch::groups(1, 1), {in(p.a)});
  const Submission failed = bad.commit();

  Encoder good = dev.encoder();
  dispatch_add(good, p);
  const Submission ok = good.commit_and_wait();
  EXPECT_EQ(ok.status(), SubmissionStatus::Completed);
  EXPECT_EQ(download_floats(p.c), kAddSum);
  EXPECT_EQ(failed.status(), SubmissionStatus::Failed);
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.submissions_failed, 1U);
  EXPECT_EQ(stats.submissions_completed, 1U);
}

// Retained mode (the default): an in-flight submission holds every buffer it binds and lets go
// once it has completed (seed section 15 item 11).
TEST(Submission, RetainedSubmissionHoldsBuffersUntilCompletion) {
  auto gate = std::make_shared<Gate>();
  Device dev = make_cpu_device({}, make_test_registry(gate));
  GateOpener opener{gate};
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("gate_kernel"), Launch::groups(1, 1), {inout(x)});
  const Submission s = enc.commit();
  EXPECT_GT(x.use_count(), 1);
  gate->wait_for_arrivals(1);
  EXPECT_EQ(s.status(), SubmissionStatus::Committed);
  EXPECT_GT(x.use_count(), 1);
  gate->open();
  s.wait();
  EXPECT_EQ(x.use_count(), 1);
}

// Unretained mode (EncoderOptions::retain_buffers = false): the submission holds no reference,
// so the caller's handle is the only owner right after commit, while the work is in flight.
TEST(Submission, UnretainedSubmissionHoldsNoBuffers) {
  auto gate = std::make_shared<Gate>();
  Device dev = make_cpu_device({}, make_test_registry(gate));
  GateOpener opener{gate};
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder({.retain_buffers = false});
  enc.dispatch(dev.kernel("gate_kernel"), Launch::groups(1, 1), {inout(x)});
  const Submission s = enc.commit();
  EXPECT_EQ(x.use_count(), 1);
  gate->wait_for_arrivals(1);
  EXPECT_EQ(s.status(), SubmissionStatus::Committed);
  EXPECT_EQ(x.use_count(), 1);
  gate->open();
  s.wait();
  EXPECT_EQ(s.status(), SubmissionStatus::Completed);
}

// The device option sets the default and an encoder may override it either way.
TEST(Submission, EncoderRetentionOverridesTheDeviceDefault) {
  auto gate = std::make_shared<Gate>();
  DeviceOptions options;
  options.retain_buffers = false;
  Device dev = make_cpu_device(options, make_test_registry(gate));
  GateOpener opener{gate};
  const Kernel held = dev.kernel("gate_kernel");
  Buffer unretained = dev.alloc(16, "unretained");
  Buffer retained = dev.alloc(16, "retained");

  Encoder by_default = dev.encoder();
  by_default.dispatch(held, Launch::groups(1, 1), {inout(unretained)});
  const Submission first = by_default.commit();
  Encoder overriding = dev.encoder({.retain_buffers = true});
  overriding.dispatch(held, Launch::groups(1, 1), {inout(retained)});
  const Submission second = overriding.commit();

  gate->wait_for_arrivals(1);
  EXPECT_EQ(unretained.use_count(), 1);
  EXPECT_GT(retained.use_count(), 1);
  gate->open();
  second.wait();
  EXPECT_EQ(first.status(), SubmissionStatus::Completed);
  EXPECT_EQ(retained.use_count(), 1);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
