// Passes where a device applies them: an encoder's passes run at finish() and at commit() (also
// unretained), a refusal leaves the encoder open and submits nothing, Device::optimize checks the
// recording's device, and every application is counted in Stats (recordings optimised, nodes
// fused and moved, barriers and edges removed), which reset_stats() zeroes.

#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

#include "encore/encore.h"

#include "support/norm_kernels.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::error_from;
using testing::make_cpu_device;
using testing::make_norm_registry;
using testing::mentions;
using testing::upload_floats;

constexpr std::uint32_t kN = 8;

struct NormStep {
  Device dev = make_cpu_device({}, make_norm_registry());
  Buffer x = upload_floats(dev, {1, 2, 3, 4, 5, 6, 7, 8}, "x");
  Buffer w = upload_floats(dev, {2, 2, 2, 2, 3, 3, 3, 3}, "w");
  Buffer t = dev.alloc(kN * 4, "t");
  Buffer y = dev.alloc(kN * 4, "y");

  // rms_norm(x) -> t; t * w -> y.
  void record(Encoder& enc) const {
    enc.dispatch(dev.kernel("rms_norm_f32"), Launch::groups(1, 32),
                 {in(x), out(t), value(kN), value(1e-5F)});
    enc.dispatch(dev.kernel("mul_f32"), cover(kN), {in(t), in(w), out(y), value(kN)});
  }
  std::vector<float> unfused_y() {
    Encoder enc = dev.encoder({.passes = PassPipeline()});
    record(enc);
    enc.commit_and_wait();
    return y.download<float>();
  }
};

const PassPipeline kFuse({Pass::Fuse});

// finish() returns the optimised recording; the device counts the encoded dispatches and what
// the passes did.
TEST(EncoderPasses, RunAtFinish) {
  NormStep f;
  Encoder enc = f.dev.encoder({.passes = kFuse});
  f.record(enc);
  const Recording rec = enc.finish();
  EXPECT_EQ(rec.dispatch_count(), 1U);
  EXPECT_EQ(rec.node(0).kernel, "rms_norm_mul_f32");
  EXPECT_EQ(enc.dispatch_count(), 2U);
  const Stats s = f.dev.stats();
  EXPECT_EQ(s.dispatches_encoded, 2U);
  EXPECT_EQ(s.recordings_optimized, 1U);
  EXPECT_EQ(s.nodes_fused, 1U);
}

// commit() submits the optimised command buffer, retained or not, with the same results.
TEST(EncoderPasses, RunAtCommitRetainedOrNot) {
  for (const bool retain : {true, false}) {
    NormStep f;
    const std::vector<float> want = f.unfused_y();
    f.y.upload(std::span<const float>(std::vector<float>(kN, 0.0F)));
    Encoder enc = f.dev.encoder({.retain_buffers = retain, .passes = kFuse});
    f.record(enc);
    enc.commit_and_wait();
    EXPECT_EQ(f.y.download<float>(), want) << "retain " << retain;
    EXPECT_EQ(f.dev.stats().nodes_fused, 1U);
    EXPECT_EQ(f.dev.stats().command_buffers, 2U);
  }
}

// Passes that refuse the command buffer (an untagged arg) throw from finish() and commit(),
// submit nothing, count nothing, and leave the encoder open to be discarded.
TEST(EncoderPasses, RefusalLeavesTheEncoderOpen) {
  NormStep f;
  Encoder enc = f.dev.encoder({.label = "step", .passes = kFuse});
  f.record(enc);
  enc.dispatch(f.dev.kernel("copy_f32"), cover(kN), {in(f.y), buffer(f.t), value(kN)});
  const Error e = error_from([&] { (void)enc.finish(); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "command buffer 'step'")) << e.what();
  EXPECT_EQ(enc.state(), EncoderState::Open);
  EXPECT_THROW((void)enc.commit(), Error);
  EXPECT_EQ(enc.state(), EncoderState::Open);
  enc.discard();
  const Stats s = f.dev.stats();
  EXPECT_EQ(s.recordings_optimized, 0U);
  EXPECT_EQ(s.command_buffers, 0U);
  EXPECT_EQ(s.command_buffers_discarded, 1U);
}

// Device::optimize applies a pipeline to a recording of the device and refuses another's.
TEST(EncoderPasses, DeviceOptimizeChecksTheRecordingsDevice) {
  NormStep f;
  Encoder enc = f.dev.encoder();
  f.record(enc);
  const Recording rec = enc.finish();
  const PassResult r = f.dev.optimize(rec, kFuse);
  EXPECT_EQ(r.recording.dispatch_count(), 1U);
  Device other = make_cpu_device({}, make_norm_registry());
  EXPECT_EQ(error_from([&] { (void)other.optimize(rec, kFuse); }).code(), ErrorCode::WrongDevice);
  EXPECT_THROW((void)f.dev.optimize(Recording(), kFuse), Error);
}

// Each counter counts what its definition says, summed over applications; reset zeroes them.
TEST(EncoderPasses, StatsCountWhatThePassesDid) {
  NormStep f;
  Buffer a = f.dev.alloc(kN * 4, "a"), b = f.dev.alloc(kN * 4, "b"), c = f.dev.alloc(kN * 4, "c");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.record(enc);                                                                    // fused: 1
  enc.dispatch(f.dev.kernel("copy_f32"), cover(kN), {in(f.y), out(a), value(kN)});  // closes group
  enc.dispatch(f.dev.kernel("fill_f32"), cover(kN), {out(b), value(1.0F), value(kN)});  // moved
  enc.barrier();  // nothing crosses it
  enc.dispatch(f.dev.kernel("fill_f32"), cover(kN), {out(c), value(2.0F), value(kN)});
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.barrier_count(), 3U) << rec.to_string();
  const PassResult r =
      f.dev.optimize(rec, PassPipeline({Pass::Fuse, Pass::Reorder, Pass::Minimize}));
  ASSERT_EQ(r.recording.barrier_count(), 1U) << r.recording.to_string();
  const PassResult again = f.dev.optimize(rec, PassPipeline({Pass::Fuse}));
  Stats s = f.dev.stats();
  EXPECT_EQ(s.recordings_optimized, 2U);
  EXPECT_EQ(s.nodes_fused, 2U);
  EXPECT_EQ(s.nodes_moved, 1U);
  EXPECT_EQ(s.barriers_removed, 2U + (rec.barrier_count() - again.recording.barrier_count()));
  EXPECT_EQ(s.edges_removed, 0U);  // auto_barrier recordings have no edges

  Encoder dag = f.dev.encoder();  // A -> B -> C -> D, D also after A: one edge implied
  dag.dispatch(f.dev.kernel("copy_f32"), cover(kN), {in(a), out(c), value(kN)});
  dag.dispatch(f.dev.kernel("copy_f32"), cover(kN), {in(c), out(b), value(kN)});
  dag.dispatch(f.dev.kernel("copy_f32"), cover(kN), {in(b), out(f.t), value(kN)});
  dag.dispatch(f.dev.kernel("add_f32"), cover(kN), {in(c), in(f.t), out(a), value(kN)});
  (void)f.dev.optimize(dag.finish(), PassPipeline({Pass::Minimize}));
  EXPECT_EQ(f.dev.stats().edges_removed, 1U);

  f.dev.reset_stats();
  s = f.dev.stats();
  EXPECT_EQ(
      s.recordings_optimized + s.nodes_fused + s.nodes_moved + s.barriers_removed + s.edges_removed,
      0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
