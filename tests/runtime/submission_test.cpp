// Committing command buffers: labels, submission status and time, real kernel failures and how
// they propagate, the encoder's typed lifecycle (commit twice, use after commit/finish/discard,
// moved-from), discarding on drop, and buffer retention (seed: test_encoder_lifecycle,
// test_cb_label_propagation.rs, encoder_session_lifecycle.rs, test_unretained_refs.rs; section
// 15 items 9 and 11).

#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {

using testing::cover;
using testing::download_floats;
using testing::error_from;
using testing::Gate;
using testing::GateOpener;
using testing::make_cpu_device;
using testing::make_test_registry;
using testing::mentions;
using testing::upload_floats;

using testing::AddProgram;
using testing::dispatch_add;
using testing::kAddSum;
using testing::make_add_program;

constexpr std::uint32_t kN = 4;

// ---- committing and labels -----------------------------------------------------------------

// Seed test_encoder_lifecycle: commit_and_wait on an empty encoder succeeds.
TEST(Submission, CommitAndWaitOnAnEmptyEncoderSucceeds) {
  Device dev = make_cpu_device();
  Encoder enc = dev.encoder();
  const Submission s = enc.commit_and_wait();
  EXPECT_EQ(s.status(), SubmissionStatus::Completed);
  EXPECT_FALSE(s.error().has_value());
  EXPECT_EQ(enc.state(), EncoderState::Committed);
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.command_buffers, 1U);
  EXPECT_EQ(stats.submissions_completed, 1U);
  EXPECT_EQ(stats.dispatches_encoded, 0U);
}

// Seed commit_labeled_sets_cmdbuffer_label: the commit label reads back from the submission
// right away, and the work completes with the right result.
TEST(Submission, CommitLabelReadsBackFromTheSubmission) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  const Submission s = enc.commit("x");
  EXPECT_EQ(s.label(), "x");
  EXPECT_EQ(enc.label(), "x");
  s.wait();
  EXPECT_EQ(s.label(), "x");
  EXPECT_EQ(download_floats(p.c), kAddSum);
}

// EncoderOptions::label names the command buffer when commit() gives none; a commit label
// replaces it.
TEST(Submission, EncoderOptionsLabelIsUsedWhenCommitHasNone) {
  Device dev = make_cpu_device();
  Encoder plain = dev.encoder({.label = "from.options"});
  EXPECT_EQ(plain.label(), "from.options");
  EXPECT_EQ(plain.commit().label(), "from.options");

  Encoder replaced = dev.encoder({.label = "from.options"});
  EXPECT_EQ(replaced.commit("from.commit").label(), "from.commit");

  Encoder relabelled = dev.encoder({.label = "from.options"});
  relabelled.set_label("from.set_label");
  EXPECT_EQ(relabelled.commit().label(), "from.set_label");
  dev.wait_idle();
}

// Seed commit_and_wait_labeled_sets_cmdbuffer_label: the label propagates through
// commit_and_wait and the result is visible without another wait.
TEST(Submission, CommitAndWaitLabelPropagates) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  const Submission s = enc.commit_and_wait("phase.iter16_smoke_token");
  EXPECT_EQ(s.label(), "phase.iter16_smoke_token");
  EXPECT_EQ(s.status(), SubmissionStatus::Completed);
  EXPECT_EQ(download_floats(p.c), kAddSum);
}

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

// After a real dispatch the submission reports a positive execution time.
TEST(Submission, TimeIsPositiveAfterARealDispatch) {
  Device dev = make_cpu_device();
  Buffer y = dev.alloc(4096 * sizeof(float), "y");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_f32"), cover(4096), {out(y), value(1.5F), value(4096U)});
  const Submission s = enc.commit_and_wait();
  EXPECT_GT(s.time().count(), 0);
  EXPECT_EQ(y.download<float>()[4095], 1.5F);
}

// Submissions are numbered in commit order, starting at 1 on a fresh device.
TEST(Submission, SequenceFollowsCommitOrder) {
  Device dev = make_cpu_device();
  const Submission first = dev.encoder().commit();
  const Submission second = dev.encoder().commit();
  EXPECT_EQ(first.sequence(), 1U);
  EXPECT_EQ(second.sequence(), 2U);
  dev.wait_idle();
}

// ---- failures ------------------------------------------------------------------------------

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

// ---- the encoder's lifecycle ---------------------------------------------------------------

// Committing twice is an InvalidState error, not a silent no-op (seed section 15 item 9); the
// first submission is unaffected and only one command buffer is counted.
TEST(Submission, CommitTwiceIsInvalidState) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  const Submission s = enc.commit("once");
  const Error e = error_from([&] { enc.commit("twice"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidState) << e.what();
  EXPECT_EQ(error_from([&] { enc.commit_and_wait(); }).code(), ErrorCode::InvalidState);
  s.wait();
  EXPECT_EQ(s.label(), "once");
  EXPECT_EQ(download_floats(p.c), kAddSum);
  EXPECT_EQ(dev.stats().command_buffers, 1U);
}

// After commit every call that needs an Open encoder throws InvalidState and records nothing.
TEST(Submission, DispatchAfterCommitIsInvalidState) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Fence fence = dev.create_fence();
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  enc.commit_and_wait();
  EXPECT_EQ(error_from([&] { dispatch_add(enc, p); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.barrier(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.wait(fence); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.finish(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.discard(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.set_label("late"); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(enc.state(), EncoderState::Committed);
  EXPECT_EQ(enc.dispatch_count(), 1U);
  EXPECT_EQ(dev.stats().dispatches_encoded, 1U);
  EXPECT_EQ(dev.stats().recordings_finished, 0U);
}

// A finished encoder rejects further dispatches and commits with InvalidState.
TEST(Submission, DispatchAfterFinishIsInvalidState) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  const Recording rec = enc.finish();
  EXPECT_EQ(enc.state(), EncoderState::Finished);
  EXPECT_EQ(error_from([&] { dispatch_add(enc, p); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.commit(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.finish(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(rec.dispatch_count(), 1U);
  EXPECT_EQ(dev.stats().command_buffers, 0U);
}

// A discarded encoder rejects further dispatches and commits with InvalidState.
TEST(Submission, DispatchAfterDiscardIsInvalidState) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  enc.discard();
  EXPECT_EQ(enc.state(), EncoderState::Discarded);
  EXPECT_EQ(error_from([&] { dispatch_add(enc, p); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.commit(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { enc.discard(); }).code(), ErrorCode::InvalidState);
  dev.wait_idle();
  EXPECT_EQ(download_floats(p.c), (std::vector<float>{0, 0, 0, 0}));  // nothing ran
  EXPECT_EQ(dev.stats().command_buffers, 0U);
}

// A moved-from encoder throws InvalidState ("moved from") on every call; the encoder it moved
// into carries the work and commits it.
TEST(Submission, MovedFromEncoderIsInvalidState) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder source = dev.encoder();
  dispatch_add(source, p);
  Encoder target = std::move(source);

  // Using the moved-from encoder is the point of this test.
  // NOLINTBEGIN(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  const Error e = error_from([&] {
    source.dispatch(p.add, cover(kN), {in(p.a), in(p.b), out(p.c), value(kN)});
  });
  EXPECT_EQ(e.code(), ErrorCode::InvalidState);
  EXPECT_TRUE(mentions(e.what(), "moved from"));
  EXPECT_EQ(error_from([&] { source.commit(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { source.barrier(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { source.finish(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { (void)source.label(); }).code(), ErrorCode::InvalidState);
  EXPECT_EQ(error_from([&] { (void)source.dispatch_count(); }).code(), ErrorCode::InvalidState);
  // NOLINTEND(bugprone-use-after-move,clang-analyzer-cplusplus.Move)

  EXPECT_EQ(target.dispatch_count(), 1U);
  target.commit_and_wait();
  EXPECT_EQ(download_floats(p.c), kAddSum);
  EXPECT_EQ(dev.stats().command_buffers, 1U);
  EXPECT_EQ(dev.stats().command_buffers_discarded, 0U);
}

// Move-assigning over an Open encoder with work discards that work (it is counted and never
// runs) and takes over the other encoder's.
TEST(Submission, MoveAssignmentDiscardsTheOverwrittenEncodersWork) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Buffer y = dev.alloc(kN * sizeof(float), "y");
  Encoder overwritten = dev.encoder();
  overwritten.dispatch(dev.kernel("fill_f32"), cover(kN), {out(y), value(7.0F), value(kN)});
  Encoder other = dev.encoder();
  dispatch_add(other, p);
  overwritten = std::move(other);
  EXPECT_EQ(dev.stats().command_buffers_discarded, 1U);
  EXPECT_EQ(y.use_count(), 1);

  overwritten.commit_and_wait();
  EXPECT_EQ(download_floats(p.c), kAddSum);
  EXPECT_EQ(download_floats(y), (std::vector<float>{0, 0, 0, 0}));
}

// Dropping an encoder with work discards it: it is counted, nothing runs, the buffers it bound
// are released, and the device keeps working (seed: test_drop_uncommitted_is_safe,
// test_graph_session_drop_without_commit).
TEST(Submission, DroppingAnEncoderWithWorkDiscardsIt) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  {
    Encoder enc = dev.encoder();
    dispatch_add(enc, p);
    EXPECT_EQ(p.a.use_count(), 2);  // the handle and the command buffer
    EXPECT_EQ(p.c.use_count(), 2);
  }
  EXPECT_EQ(p.a.use_count(), 1);
  EXPECT_EQ(p.b.use_count(), 1);
  EXPECT_EQ(p.c.use_count(), 1);
  Stats stats = dev.stats();
  EXPECT_EQ(stats.command_buffers_discarded, 1U);
  EXPECT_EQ(stats.command_buffers, 0U);
  dev.wait_idle();
  EXPECT_EQ(download_floats(p.c), (std::vector<float>{0, 0, 0, 0}));

  Buffer x = upload_floats(dev, {7, 8}, "x");
  Buffer w = upload_floats(dev, {1, 2}, "w");
  Buffer out_buf = dev.alloc(2 * sizeof(float), "out");
  Encoder next = dev.encoder();
  next.dispatch(p.add, cover(2), {in(x), in(w), out(out_buf), value(2U)});
  next.commit_and_wait();
  EXPECT_EQ(download_floats(out_buf), (std::vector<float>{8, 10}));
  EXPECT_EQ(dev.stats().submissions_completed, 1U);
}

// Dropping an encoder that recorded nothing is not a discarded command buffer.
TEST(Submission, DroppingAnEmptyEncoderCountsNothing) {
  Device dev = make_cpu_device();
  {
    Encoder enc = dev.encoder();
    enc.barrier();  // a no-op before the first dispatch
  }
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.command_buffers_discarded, 0U);
  EXPECT_EQ(stats.command_buffers, 0U);
}

// ---- buffer retention ----------------------------------------------------------------------

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

}  // namespace
}  // namespace encore
