// PassPipeline: parsing pass lists, the empty pipeline (the recording itself), what a pipeline
// carries over to the new recording (slots and their current values, hot views, fence waits,
// label, ordering mode; the input unchanged), the report (shapes before and after each pass,
// times, notes, text and DOT dumps of every stage) and its absence of stages when neither
// checking nor explaining.

#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "core/command_list.h"
#include "ir/passes/pass_test_helpers.h"
#include "ir/passes/passes.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::checked;
using testing::error_from;
using testing::mentions;
using testing::norm_device;
using testing::ramp;
using testing::run_floats;
using testing::upload_floats;

constexpr std::uint32_t kN = 8;

// A recording the three passes all change: rms_norm + mul (fused), a read that closes the
// auto_barrier group and an independent fill (moved), and an explicit barrier nothing crosses
// (dropped). Under Ordering::Barriers nothing is inferred, so the recording carries the barriers
// its read-after-write pairs need (norm -> mul -> copy); without them the unoptimised recording
// itself races.
struct Workload {
  Device dev = norm_device();
  Buffer x = upload_floats(dev, ramp(kN), "x");
  Buffer w = upload_floats(dev, ramp(kN, 0.5F), "w");
  Buffer t = dev.alloc(kN * 4, "t");
  Buffer y = dev.alloc(kN * 4, "y");
  Buffer z = dev.alloc(kN * 4, "z");
  Buffer u = dev.alloc(kN * 4, "u");

  Recording record(const EncoderOptions& options = {.ordering = Ordering::AutoBarrier}) {
    Encoder enc = dev.encoder(options);
    enc.dispatch(dev.kernel("rms_norm_f32"), Launch::groups(1, 32),
                 {in(x), out(t), value(kN), value(1e-5F)}, {.label = "norm"});
    const bool explicit_order = options.ordering == Ordering::Barriers;
    if (explicit_order) {
      enc.barrier();
    }
    enc.dispatch(dev.kernel("mul_f32"), Launch::threads(kN, 64), {in(t), in(w), out(y), value(kN)},
                 {.label = "mul"});
    if (explicit_order) {
      enc.barrier();
    }
    enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kN, 64), {in(y), out(z), value(kN)},
                 {.label = "copy"});
    enc.dispatch(dev.kernel("scale_f32"), Launch::threads(kN, 64),
                 {in(x), out(u), slot("alpha", 2.0F), value(kN)}, {.label = "scale"});
    enc.barrier();
    enc.dispatch(dev.kernel("fill_f32"), Launch::threads(kN, 64), {out(t), value(0.0F), value(kN)},
                 {.label = "clear"});
    return enc.finish();
  }
};

// Lists, "all", "none" and "" parse; a word that is not a pass is an error naming it.
TEST(PassPipeline, ParsesPassListsAndNamesABadWord) {
  EXPECT_EQ(PassPipeline::parse("fuse,reorder,minimize").passes(),
            (std::vector<Pass>{Pass::Fuse, Pass::Reorder, Pass::Minimize}));
  EXPECT_EQ(PassPipeline::parse(" minimize , fuse ").passes(),
            (std::vector<Pass>{Pass::Minimize, Pass::Fuse}));
  EXPECT_EQ(PassPipeline::parse("all").to_string(), "fuse,reorder,minimize");
  EXPECT_TRUE(PassPipeline::parse("none").empty());
  EXPECT_TRUE(PassPipeline::parse("").empty());
  EXPECT_EQ(PassPipeline().to_string(), "none");
  const Error e = error_from([] { (void)PassPipeline::parse("fuse,reoder"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "'reoder' in the pass list 'fuse,reoder' is not a pass"))
      << e.what();
  EXPECT_THROW((void)PassPipeline::parse("fuse,,reorder"), Error);
}

// No passes: the very recording comes back, and an empty recording is an error.
TEST(PassPipeline, EmptyPipelineReturnsTheRecordingItself) {
  Workload f;
  const Recording rec = f.record();
  const PassResult r = PassPipeline().apply(rec);
  EXPECT_EQ(r.recording.shared_commands(), rec.shared_commands());
  EXPECT_EQ(r.report.before, r.report.after);
  EXPECT_TRUE(r.report.stages.empty());
  EXPECT_THROW((void)PassPipeline({Pass::Fuse}).apply(Recording()), Error);
}

// The passes build a new recording; the input's nodes and dump are exactly as before.
TEST(PassPipeline, InputRecordingIsNeverChanged) {
  Workload f;
  const Recording rec = f.record();
  const std::string before = rec.to_string();
  const PassResult r = checked({Pass::Fuse, Pass::Reorder, Pass::Minimize}).apply(rec);
  EXPECT_NE(r.recording.shared_commands(), rec.shared_commands());
  EXPECT_EQ(rec.to_string(), before);
  EXPECT_LT(r.recording.node_count(), rec.node_count());
}

// Slots (with the values set on the input), hot views, fence waits, the label and the ordering
// mode carry over; the new recording replays with patched slots like any other.
TEST(PassPipeline, CarriesSlotsHotViewsFenceWaitsAndLabel) {
  Workload f;
  Fence fence = f.dev.create_fence();
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag, .label = "step"});
  enc.wait(fence);
  enc.keep_hot(f.w);
  enc.dispatch(f.dev.kernel("scale_f32"), Launch::threads(kN, 64),
               {in(f.x), out(f.u), slot("alpha", 2.0F), value(kN)});
  Recording rec = enc.finish();
  rec.set("alpha", 3.0F);
  const PassResult r = checked({Pass::Reorder, Pass::Minimize}).apply(rec);
  EXPECT_EQ(r.recording.label(), "step");
  EXPECT_EQ(r.recording.ordering(), Ordering::AutoDag);
  EXPECT_EQ(r.recording.slot_names(), std::vector<std::string>{"alpha"});
  EXPECT_EQ(r.recording.commands().waits.size(), 1U);
  EXPECT_TRUE(mentions(r.recording.to_string(),
                       "keep hot " + std::string("buf#") + std::to_string(f.w.id())));
  EXPECT_EQ(run_floats(f.dev, r.recording, {f.u})[0], ramp(kN, 3.0F));
  Recording patched = r.recording;
  patched.set("alpha", 4.0F);
  EXPECT_EQ(run_floats(f.dev, patched, {f.u})[0], ramp(kN, 4.0F));
}

// The report: shapes before, after and per stage, what each pass did, times, and notes.
TEST(PassPipeline, ReportsWhatEachPassDid) {
  Workload f;
  const Recording rec = f.record();
  const PassResult r = checked({Pass::Fuse, Pass::Reorder, Pass::Minimize}).apply(rec);
  const PassReport& report = r.report;
  EXPECT_EQ(report.before, RecordingShape::of(rec));
  EXPECT_EQ(report.after, RecordingShape::of(r.recording));
  ASSERT_EQ(report.stages.size(), 3U);
  EXPECT_EQ(report.stages[0].nodes_fused, 1U);
  EXPECT_EQ(report.stages[1].nodes_moved, 1U);
  EXPECT_EQ(report.stages[2].barriers_dropped, 1U);
  for (const PassStage& s : report.stages) {
    ASSERT_TRUE(s.shape.has_value());
    EXPECT_EQ(*s.shape, RecordingShape::of(s.recording));
  }
  EXPECT_EQ(*report.stages.back().shape, report.after);
  EXPECT_EQ(report.after.dispatches, 4U);
  EXPECT_GT(report.total_nanoseconds, 0U);
  EXPECT_GE(report.total_nanoseconds, report.stages[0].nanoseconds + report.build_nanoseconds);
  const std::string text = report.to_string();
  EXPECT_TRUE(mentions(text, "fuse")) << text;
  EXPECT_TRUE(mentions(text, "fused 1")) << text;
  EXPECT_TRUE(mentions(text, "moved 1")) << text;
  EXPECT_TRUE(mentions(text, "dropped 1 barriers")) << text;
  EXPECT_TRUE(mentions(text, "fused dispatch #0 'norm'")) << text;
}

// dumps() renders the input and the recording after each pass, as text or DOT.
TEST(PassPipeline, DumpsEveryStage) {
  Workload f;
  const PassResult r = checked({Pass::Fuse, Pass::Minimize}).apply(f.record());
  const std::string text = r.report.dumps();
  EXPECT_TRUE(mentions(text, "== input ==\nrecording")) << text;
  EXPECT_TRUE(mentions(text, "== after fuse ==\nrecording")) << text;
  EXPECT_TRUE(mentions(text, "== after minimize ==\nrecording")) << text;
  EXPECT_TRUE(mentions(text, "rms_norm_mul_f32 'norm+mul'")) << text;
  const std::string dot = r.report.dumps(true);
  EXPECT_TRUE(mentions(dot, "== after fuse ==\ndigraph")) << dot;
}

// Neither checking nor explaining: no stage recordings, notes or shapes are made.
TEST(PassPipeline, WithoutChecksOrExplanationStagesStayLight) {
  Workload f;
  PassOptions quiet;
  quiet.check_invariants = false;
  const PassResult r = PassPipeline({Pass::Fuse, Pass::Reorder}, quiet).apply(f.record());
  ASSERT_EQ(r.report.stages.size(), 2U);
  for (const PassStage& s : r.report.stages) {
    EXPECT_FALSE(s.shape.has_value());
    EXPECT_FALSE(s.recording);
    EXPECT_TRUE(s.notes.empty());
  }
  EXPECT_EQ(r.report.dumps(), "");
  EXPECT_EQ(r.report.nodes_fused(), 1U);
  EXPECT_EQ(r.recording.dispatch_count(), 4U);
}

// Every pass combination (each order of each non-empty subset) gives the unoptimised results
// on this workload, in every ordering mode.
TEST(PassPipeline, EveryCombinationKeepsTheResults) {
  const std::vector<std::vector<Pass>> combinations = {{Pass::Fuse},
                                                       {Pass::Reorder},
                                                       {Pass::Minimize},
                                                       {Pass::Fuse, Pass::Reorder},
                                                       {Pass::Reorder, Pass::Fuse},
                                                       {Pass::Fuse, Pass::Minimize},
                                                       {Pass::Minimize, Pass::Fuse},
                                                       {Pass::Reorder, Pass::Minimize},
                                                       {Pass::Minimize, Pass::Reorder},
                                                       {Pass::Fuse, Pass::Reorder, Pass::Minimize},
                                                       {Pass::Minimize, Pass::Reorder, Pass::Fuse}};
  for (const Ordering ordering :
       {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier, Ordering::AutoDag}) {
    Workload f;
    const Recording rec = f.record({.ordering = ordering});
    // The reference run must itself be race-free, or its results prove nothing.
    ASSERT_NO_THROW(detail::check_invariants(rec.commands(), Pass::Fuse)) << to_string(ordering);
    const auto want = run_floats(f.dev, rec, {f.t, f.y, f.z, f.u});
    for (const auto& passes : combinations) {
      const PassResult r = checked(passes).apply(rec);
      EXPECT_EQ(run_floats(f.dev, r.recording, {f.t, f.y, f.z, f.u}), want)
          << PassPipeline(passes).to_string() << " on " << to_string(ordering) << "\n"
          << r.report.to_string();
    }
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
