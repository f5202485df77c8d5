// Committing command buffers, on every backend: labels, submission time and sequence, the
// encoder's typed lifecycle (commit twice, use after commit/finish/discard, moved-from) and
// discarding on drop (seed: test_encoder_lifecycle, test_cb_label_propagation.rs,
// encoder_session_lifecycle.rs; section 15 item 9). (Kernel failures, and status and buffer
// retention while a kernel holds a submission in flight, need CPU-only test kernels:
// tests/runtime/submission_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <utility>
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

using testing::AddProgram;
using testing::dispatch_add;
using testing::kAddSum;
using testing::make_add_program;

// The suite of this file, on the backend of its parameter (support/backend_test.h).
class Submissions : public testing::BackendTest {};

constexpr std::uint32_t kN = 4;

// ---- committing and labels -----------------------------------------------------------------

// Seed test_encoder_lifecycle: commit_and_wait on an empty encoder succeeds.
TEST_P(Submissions, CommitAndWaitOnAnEmptyEncoderSucceeds) {
  Device dev = make_device();
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
TEST_P(Submissions, CommitLabelReadsBackFromTheSubmission) {
  Device dev = make_device();
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
TEST_P(Submissions, EncoderOptionsLabelIsUsedWhenCommitHasNone) {
  Device dev = make_device();
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
TEST_P(Submissions, CommitAndWaitLabelPropagates) {
  Device dev = make_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  const Submission s = enc.commit_and_wait("phase.iter16_smoke_token");
  EXPECT_EQ(s.label(), "phase.iter16_smoke_token");
  EXPECT_EQ(s.status(), SubmissionStatus::Completed);
  EXPECT_EQ(download_floats(p.c), kAddSum);
}

// After a real dispatch the submission reports a positive execution time.
TEST_P(Submissions, TimeIsPositiveAfterARealDispatch) {
  Device dev = make_device();
  Buffer y = dev.alloc(4096 * sizeof(float), "y");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_f32"), cover(4096), {out(y), value(1.5F), value(4096U)});
  const Submission s = enc.commit_and_wait();
  EXPECT_GT(s.time().count(), 0);
  EXPECT_EQ(y.download<float>()[4095], 1.5F);
}

// Submissions are numbered in commit order, starting at 1 on a fresh device.
TEST_P(Submissions, SequenceFollowsCommitOrder) {
  Device dev = make_device();
  const Submission first = dev.encoder().commit();
  const Submission second = dev.encoder().commit();
  EXPECT_EQ(first.sequence(), 1U);
  EXPECT_EQ(second.sequence(), 2U);
  dev.wait_idle();
}

// ---- failures ------------------------------------------------------------------------------

// ---- the encoder's lifecycle ---------------------------------------------------------------

// Committing twice is an InvalidState error, not a silent no-op (seed section 15 item 9); the
// first submission is unaffected and only one command buffer is counted.
TEST_P(Submissions, CommitTwiceIsInvalidState) {
  Device dev = make_device();
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
TEST_P(Submissions, DispatchAfterCommitIsInvalidState) {
  Device dev = make_device();
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
TEST_P(Submissions, DispatchAfterFinishIsInvalidState) {
  Device dev = make_device();
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
TEST_P(Submissions, DispatchAfterDiscardIsInvalidState) {
  Device dev = make_device();
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
TEST_P(Submissions, MovedFromEncoderIsInvalidState) {
  Device dev = make_device();
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
TEST_P(Submissions, MoveAssignmentDiscardsTheOverwrittenEncodersWork) {
  Device dev = make_device();
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
TEST_P(Submissions, DroppingAnEncoderWithWorkDiscardsIt) {
  Device dev = make_device();
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
TEST_P(Submissions, DroppingAnEmptyEncoderCountsNothing) {
  Device dev = make_device();
  {
    Encoder enc = dev.encoder();
    enc.barrier();  // a no-op before the first dispatch
  }
  const Stats stats = dev.stats();
  EXPECT_EQ(stats.command_buffers_discarded, 0U);
  EXPECT_EQ(stats.command_buffers, 0U);
}

// ---- buffer retention ----------------------------------------------------------------------

ENCORE_INSTANTIATE_BACKEND_SUITE(Submissions);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
