// Recordings, on every backend: capture/replay parity with direct commits, replay counting, what a
// recording records (byte ranges, barriers), patchable slots, submitting to the wrong device, and
// buffer lifetime (seed: capture mode, replay_dispatch, and the capture -> replay parity test that
// section 12 lists as missing). (Failing replays, op kinds and slots set while a replay is held in
// flight need CPU-only test kernels: tests/runtime/recording_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <span>
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
class Recordings : public testing::BackendTest {};

constexpr std::uint32_t kN = 4;
constexpr std::uint64_t kBytes = kN * sizeof(float);

std::string range_text(ByteRange r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

// The buffers of one run of the parity program.
struct ParityBuffers {
  Buffer x, w, h, scaled, partial, total, mixed;
};

constexpr std::uint32_t kParityN = 1000;

ParityBuffers make_parity_buffers(Device& dev) {
  std::vector<float> x(kParityN), w(kParityN);
  std::vector<std::uint32_t> seed(kParityN);
  for (std::uint32_t i = 0; i < kParityN; ++i) {
    x[i] = 0.25F * static_cast<float>(i % 17) - 1.0F;
    w[i] = 1.0F / static_cast<float>(1 + i % 7);
    seed[i] = i * 2654435761U;
  }
  ParityBuffers b;
  b.x = upload_floats(dev, x, "x");
  b.w = upload_floats(dev, w, "w");
  b.h = dev.alloc(kParityN * sizeof(float), "h");
  b.scaled = dev.alloc(kParityN * sizeof(float), "scaled");
  b.partial = dev.alloc(16 * sizeof(float), "partial");
  b.total = dev.alloc(sizeof(float), "total");
  b.mixed = dev.alloc(kParityN * sizeof(std::uint32_t), "mixed");
  b.mixed.upload(std::span<const std::uint32_t>(seed));
  return b;
}

// A small mixed program: elementwise ops, a two-pass reduction with shared memory, and an
// order-sensitive integer mix chained through one buffer.
void encode_parity_program(Device& dev, Encoder& enc, const ParityBuffers& b) {
  const std::uint32_t n = kParityN;
  enc.dispatch(dev.kernel("mul_f32"), cover(n), {in(b.x), in(b.w), out(b.h), value(n)});
  enc.dispatch(dev.kernel("add_f32"), cover(n), {in(b.h), in(b.x), out(b.h), value(n)});
  enc.dispatch(dev.kernel("scale_f32"), cover(n), {in(b.h), out(b.scaled), value(0.5F), value(n)});
  enc.dispatch(dev.kernel("sum_f32"), Launch::groups(16, 64).shared(64 * sizeof(float)),
               {in(b.scaled), out(b.partial), value(n)});
  enc.dispatch(dev.kernel("sum_f32"), Launch::groups(1, 16).shared(16 * sizeof(float)),
               {in(b.partial), out(b.total), value(16U)});
  const Kernel mix = dev.kernel("mix_u32");
  for (std::uint32_t salt = 1; salt <= 5; ++salt) {
    enc.dispatch(mix, cover(n), {in(b.h), inout(b.mixed), value(salt), value(n), value(n)});
  }
}

std::vector<std::uint8_t> bytes_of(const Buffer& b) { return b.download<std::uint8_t>(); }

// ---- replay --------------------------------------------------------------------------------

// Capture/replay parity: finish() then Device::submit() produces byte-identical results to a
// direct commit of the same program (seed: the missing "capture + encode_sequential is
// bit-identical to direct dispatch" test).
TEST_P(Recordings, ReplayIsByteIdenticalToADirectCommit) {
  Device dev = make_device();
  const ParityBuffers direct = make_parity_buffers(dev);
  const ParityBuffers replayed = make_parity_buffers(dev);

  Encoder committed = dev.encoder();
  encode_parity_program(dev, committed, direct);
  committed.commit_and_wait();

  Encoder recorder = dev.encoder();
  encode_parity_program(dev, recorder, replayed);
  const Recording rec = recorder.finish();
  EXPECT_EQ(bytes_of(replayed.h), std::vector<std::uint8_t>(kParityN * sizeof(float), 0))
      << "finish() must not run anything";
  dev.submit(rec).wait();

  EXPECT_EQ(bytes_of(replayed.h), bytes_of(direct.h));
  EXPECT_EQ(bytes_of(replayed.scaled), bytes_of(direct.scaled));
  EXPECT_EQ(bytes_of(replayed.partial), bytes_of(direct.partial));
  EXPECT_EQ(bytes_of(replayed.total), bytes_of(direct.total));
  EXPECT_EQ(bytes_of(replayed.mixed), bytes_of(direct.mixed));
  EXPECT_NE(direct.total.download<float>()[0], 0.0F);
}

// Each submission of a recording is a replay: it runs every dispatch again and counts
// recordings_submitted and dispatches_replayed, never dispatches_encoded.
TEST_P(Recordings, SubmittingTwiceCountsReplaysNotEncodedDispatches) {
  Device dev = make_device();
  const Kernel log_order = dev.kernel("log_order");
  Buffer log = dev.alloc(16 * sizeof(std::uint32_t), "log");
  Encoder enc = dev.encoder();
  for (std::uint32_t id = 1; id <= 3; ++id) {
    enc.dispatch(log_order, Launch::groups(1, 1), {inout(log), value(id)});
  }
  const Recording rec = enc.finish();
  Stats stats = dev.stats();
  EXPECT_EQ(stats.dispatches_encoded, 3U);
  EXPECT_EQ(stats.recordings_finished, 1U);

  const Submission first = dev.submit(rec);
  const Submission second = dev.submit(rec);
  second.wait();
  EXPECT_EQ(first.status(), SubmissionStatus::Completed);
  stats = dev.stats();
  EXPECT_EQ(stats.recordings_submitted, 2U);
  EXPECT_EQ(stats.dispatches_replayed, 6U);
  EXPECT_EQ(stats.dispatches_encoded, 3U);
  EXPECT_EQ(stats.command_buffers, 0U);
  EXPECT_EQ(stats.submissions_completed, 2U);
  EXPECT_EQ(log.download<std::uint32_t>(),
            (std::vector<std::uint32_t>{6, 1, 2, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

// A replay takes the recording's label unless submit() names one.
TEST_P(Recordings, ReplayLabelDefaultsToTheRecordingsLabel) {
  Device dev = make_device();
  Encoder enc = dev.encoder({.label = "decode.step"});
  const Recording rec = enc.finish();
  EXPECT_EQ(rec.label(), "decode.step");
  const Submission plain = dev.submit(rec);
  const Submission named = dev.submit(rec, "token.7");
  named.wait();
  EXPECT_EQ(plain.label(), "decode.step");
  EXPECT_EQ(named.label(), "token.7");
}

// A replay may signal a fence like a commit does.
TEST_P(Recordings, ReplayCanSignalAFence) {
  Device dev = make_device();
  Fence fence = dev.create_fence();
  const Recording rec = dev.encoder().finish();
  dev.submit(rec, {}, {.signal = fence});
  dev.submit(rec, {}, {.signal = fence});
  fence.host_wait(2);
  EXPECT_EQ(fence.completed_value(), 2U);
  EXPECT_EQ(dev.stats().fence_signals, 2U);
}

// ---- what a recording records --------------------------------------------------------------

// Accesses list each buffer arg with its allocation id, the view's byte range, the declared
// access and its arg index (values skipped), then extra ranges with arg_index -1; an untagged
// buffer counts as inout.
TEST_P(Recordings, RecordsBufferAccessesWithRangesAndArgIndex) {
  Device dev = make_device();
  Buffer a = dev.alloc(4 * kBytes, "a"), b = dev.alloc(kBytes, "b"), c = dev.alloc(kBytes, "c");
  Buffer table = dev.alloc(64, "table"), side = dev.alloc(32, "side");
  Encoder enc = dev.encoder();
  const BufferView reads[] = {table.view(8, 16)};
  const BufferView writes[] = {side};
  enc.dispatch(dev.kernel("add_f32"), cover(kN),
               {in(a.view_of<float>(3, kN)), buffer(b), out(c), value(kN)},
               {.extra_reads = reads, .extra_writes = writes});
  const Recording rec = enc.finish();

  const NodeInfo node = rec.node(0);
  ASSERT_EQ(node.accesses.size(), 5U);
  const struct {
    const Buffer* buffer;
    ByteRange bytes;
    Access access;
    int arg_index;
  } expected[] = {{&a, {12, 28}, Access::In, 0},
                  {&b, {0, kBytes}, Access::InOut, 1},
                  {&c, {0, kBytes}, Access::Out, 2},
                  {&table, {8, 24}, Access::In, -1},
                  {&side, {0, 32}, Access::Out, -1}};
  for (std::size_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    const BufferAccess& got = node.accesses[i];
    EXPECT_EQ(got.buffer, expected[i].buffer->id());
    EXPECT_EQ(range_text(got.bytes), range_text(expected[i].bytes));
    EXPECT_EQ(got.access, expected[i].access) << to_string(got.access);
    EXPECT_EQ(got.arg_index, expected[i].arg_index);
  }
}

// Recordings keep barriers: explicit ones from barrier() and, under auto_barrier, inferred ones
// with their reason; dispatches point at the barrier before them.
TEST_P(Recordings, RecordsExplicitAndInferredBarriers) {
  Device dev = make_device();
  Buffer x = dev.alloc(kBytes, "x"), y = dev.alloc(kBytes, "y"), z = dev.alloc(kBytes, "z");
  const Kernel fill = dev.kernel("fill_f32");
  const Kernel copy = dev.kernel("copy_f32");
  Encoder enc = dev.encoder({.ordering = Ordering::AutoBarrier});
  enc.dispatch(fill, cover(kN), {out(x), value(2.0F), value(kN)});  // #0
  enc.barrier();                                                    // #1 explicit
  enc.dispatch(copy, cover(kN), {in(x), out(y), value(kN)});        // #2
  enc.dispatch(copy, cover(kN), {in(y), out(z), value(kN)});        // #3 inferred, #4
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 5U);
  EXPECT_EQ(rec.barrier_count(), 2U);
  EXPECT_EQ(rec.dispatch_count(), 3U);
  EXPECT_EQ(rec.node(1).kind, NodeKind::Barrier);
  EXPECT_FALSE(rec.node(1).inferred);
  EXPECT_EQ(rec.node(2).barrier_before, 1U);
  const NodeInfo inferred = rec.node(3);
  EXPECT_EQ(inferred.kind, NodeKind::Barrier);
  EXPECT_TRUE(inferred.inferred);
  ASSERT_EQ(inferred.dependencies.size(), 1U);
  EXPECT_EQ(inferred.dependencies[0].kind, DependencyKind::ReadAfterWrite);
  EXPECT_EQ(inferred.dependencies[0].buffer, y.id());
  EXPECT_EQ(inferred.barrier_before, 1U);
  EXPECT_EQ(rec.node(4).barrier_before, 3U);

  dev.submit(rec).wait();
  EXPECT_EQ(download_floats(z), (std::vector<float>{2, 2, 2, 2}));
}

// A recording with no dispatches is valid and replays as a no-op; a null recording cannot be
// submitted.
TEST_P(Recordings, EmptyRecordingReplaysAndNullRecordingIsRejected) {
  Device dev = make_device();
  const Recording empty = dev.encoder().finish();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty.node_count(), 0U);
  const Submission s = dev.submit(empty);
  s.wait();
  EXPECT_EQ(s.status(), SubmissionStatus::Completed);
  const Recording null_recording;
  EXPECT_FALSE(null_recording);
  EXPECT_EQ(error_from([&] { dev.submit(null_recording); }).code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(dev.stats().recordings_submitted, 1U);
}

// ---- slots ---------------------------------------------------------------------------------

// A slot's initial value is used until set() changes it; set() changes what the next replay
// computes (here the element count of a fill).
TEST_P(Recordings, SlotSetChangesWhatReplayComputes) {
  Device dev = make_device();
  Buffer y = dev.alloc(8 * sizeof(float), "y");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_f32"), cover(8),
               {out(y), value(7.0F), slot<std::uint32_t>("n", 4)});
  Recording rec = enc.finish();
  EXPECT_EQ(rec.slot_names(), (std::vector<std::string>{"n"}));

  dev.submit(rec).wait();
  EXPECT_EQ(download_floats(y), (std::vector<float>{7, 7, 7, 7, 0, 0, 0, 0}));

  const std::vector<float> zeros(8, 0.0F);
  y.upload(std::span<const float>(zeros));
  rec.set("n", 2U);
  dev.submit(rec).wait();
  EXPECT_EQ(download_floats(y), (std::vector<float>{7, 7, 0, 0, 0, 0, 0, 0}));

  rec.set("n", 8U);
  dev.submit(rec).wait();
  EXPECT_EQ(download_floats(y), (std::vector<float>(8, 7.0F)));
}

// A direct commit of an encoder with slots uses their initial values.
TEST_P(Recordings, CommitUsesTheSlotsInitialValue) {
  Device dev = make_device();
  Buffer u = dev.alloc(4 * sizeof(std::uint32_t), "u");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_u32"), cover(4),
               {out(u), slot<std::uint32_t>("base", 40), value(4U)});
  enc.commit_and_wait();
  EXPECT_EQ(u.download<std::uint32_t>(), (std::vector<std::uint32_t>{40, 41, 42, 43}));
}

// Every arg bound to one slot name reads the one value set().
TEST_P(Recordings, OneSlotFeedsEveryArgThatNamesIt) {
  Device dev = make_device();
  Buffer u = dev.alloc(4 * sizeof(std::uint32_t), "u");
  Buffer v = dev.alloc(4 * sizeof(std::uint32_t), "v");
  const Kernel fill = dev.kernel("fill_u32");
  Encoder enc = dev.encoder();
  enc.dispatch(fill, cover(4), {out(u), slot<std::uint32_t>("base", 1), value(4U)});
  enc.dispatch(fill, cover(4), {out(v), slot<std::uint32_t>("base", 1), value(4U)});
  Recording rec = enc.finish();
  EXPECT_EQ(rec.slot_names().size(), 1U);
  rec.set("base", 100U);
  dev.submit(rec).wait();
  EXPECT_EQ(u.download<std::uint32_t>(), (std::vector<std::uint32_t>{100, 101, 102, 103}));
  EXPECT_EQ(v.download<std::uint32_t>(), (std::vector<std::uint32_t>{100, 101, 102, 103}));
}

// Copies of a recording own their slot values: setting one copy leaves the other alone.
TEST_P(Recordings, CopiesOwnTheirSlotValues) {
  Device dev = make_device();
  Buffer u = dev.alloc(4 * sizeof(std::uint32_t), "u");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_u32"), cover(4),
               {out(u), slot<std::uint32_t>("base", 10), value(4U)});
  Recording original = enc.finish();
  Recording copy = original;
  copy.set("base", 500U);
  dev.submit(original).wait();
  EXPECT_EQ(u.download<std::uint32_t>(), (std::vector<std::uint32_t>{10, 11, 12, 13}));
  dev.submit(copy).wait();
  EXPECT_EQ(u.download<std::uint32_t>(), (std::vector<std::uint32_t>{500, 501, 502, 503}));
}

// set() with an unknown name or a value of another size is InvalidArgument naming the slot, and
// leaves the slot's value as it was.
TEST_P(Recordings, SetWithUnknownNameOrWrongSizeIsInvalidArgument) {
  Device dev = make_device();
  Buffer y = dev.alloc(8 * sizeof(float), "y");
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_f32"), cover(8),
               {out(y), value(1.0F), slot<std::uint32_t>("n", 4)});
  Recording rec = enc.finish();

  const Error unknown = error_from([&] { rec.set("nope", 2U); });
  EXPECT_EQ(unknown.code(), ErrorCode::InvalidArgument) << unknown.what();
  EXPECT_TRUE(mentions(unknown.what(), "'nope'"));
  EXPECT_TRUE(mentions(unknown.what(), "slots: n"));
  const Error wrong_size = error_from([&] { rec.set("n", std::uint64_t{2}); });
  EXPECT_EQ(wrong_size.code(), ErrorCode::InvalidArgument) << wrong_size.what();
  EXPECT_TRUE(mentions(wrong_size.what(), "'n'"));
  EXPECT_TRUE(mentions(wrong_size.what(), "4"));
  EXPECT_TRUE(mentions(wrong_size.what(), "8"));

  dev.submit(rec).wait();
  EXPECT_EQ(download_floats(y), (std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(error_from([&] { Recording().set("n", 2U); }).code(), ErrorCode::InvalidState);
}

// ---- devices and lifetime ------------------------------------------------------------------

// Submitting a recording to another device is WrongDevice and submits nothing there.
TEST_P(Recordings, SubmittingToAnotherDeviceIsWrongDevice) {
  Device dev_a = make_device();
  Device dev_b = make_device();
  Buffer y = dev_a.alloc(kBytes, "y");
  Encoder enc = dev_a.encoder();
  enc.dispatch(dev_a.kernel("fill_f32"), cover(kN), {out(y), value(1.0F), value(kN)});
  const Recording rec = enc.finish();
  const Error e = error_from([&] { dev_b.submit(rec); });
  EXPECT_EQ(e.code(), ErrorCode::WrongDevice) << e.what();
  EXPECT_TRUE(mentions(e.what(), std::to_string(dev_a.id())));
  EXPECT_TRUE(mentions(e.what(), std::to_string(dev_b.id())));
  EXPECT_EQ(dev_b.stats().recordings_submitted, 0U);
  EXPECT_EQ(dev_b.stats().dispatches_replayed, 0U);
}

// A recording keeps the buffers it binds alive after the user drops their handles, replays
// correctly on them, and shares them with its copies.
TEST_P(Recordings, RecordingKeepsItsBuffersAlive) {
  Device dev = make_device();
  Buffer c = dev.alloc(kBytes, "c");
  std::optional<Recording> rec;
  {
    Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
    Buffer b = upload_floats(dev, {5, 6, 7, 8}, "b");
    Encoder enc = dev.encoder();
    enc.dispatch(dev.kernel("add_f32"), cover(kN), {in(a), in(b), out(c), value(kN)});
    rec = enc.finish();
    EXPECT_EQ(a.use_count(), 2);
  }
  EXPECT_EQ(c.use_count(), 2);
  EXPECT_EQ(dev.stats().buffers_live, 3U);

  dev.submit(*rec).wait();
  EXPECT_EQ(download_floats(c), (std::vector<float>{6, 8, 10, 12}));
  EXPECT_EQ(c.use_count(), 2);  // the replay is done with it, the recording is not

  const Recording copy = *rec;
  rec.reset();
  EXPECT_EQ(c.use_count(), 2);  // the copy shares the recorded nodes
  EXPECT_EQ(dev.stats().buffers_live, 3U);
}

// Dropping the last copy of a recording releases its buffers.
TEST_P(Recordings, DroppingTheRecordingReleasesItsBuffers) {
  Device dev = make_device();
  Buffer c = dev.alloc(kBytes, "c");
  {
    Buffer a = upload_floats(dev, {1, 2, 3, 4}, "a");
    Encoder enc = dev.encoder();
    enc.dispatch(dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
    const Recording rec = enc.finish();
    dev.submit(rec).wait();
  }
  EXPECT_EQ(c.use_count(), 1);
  EXPECT_EQ(dev.stats().buffers_live, 1U);
  EXPECT_EQ(download_floats(c), (std::vector<float>{1, 2, 3, 4}));
}

ENCORE_INSTANTIATE_BACKEND_SUITE(Recordings);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
