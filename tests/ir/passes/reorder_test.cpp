// The reorder pass on hand-built recordings: an independent dispatch is pulled into the current
// concurrent group when the next one would close it; the lookahead sees exactly window - 1 nodes
// (63 pulled, 64 and 65 not); Sdpa, Softmax, Collective, untagged Other and explicit barriers
// stop it; a whitelisted Other moves; barriers ordering strips its barriers and infers the ones
// the new order needs; results are unchanged; an untagged buffer arg is refused.

#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "ir/passes/pass_test_helpers.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::checked;
using testing::error_from;
using testing::labels_of;
using testing::make_cpu_device;
using testing::mentions;
using testing::notes_of;
using testing::run_floats;

constexpr std::uint32_t kN = 4;

// Buffers and kernels of the reorder cases: `x` written first, then read by dispatches that
// conflict with the first group, and independent outputs.
struct Lookahead {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(kN * 4, "x");
  Buffer reads = dev.alloc(128 * kN * 4, "reads");  // one slice per reader
  Buffer z = dev.alloc(kN * 4, "z");
  Kernel fill = dev.kernel("fill_f32");
  Kernel copy = dev.kernel("copy_f32");

  void write_x(Encoder& enc) const {
    enc.dispatch(fill, Launch::threads(kN, 64), {out(x), value(1.0F), value(kN)}, {.label = "w"});
  }
  // Reads x (RAW after write_x) into slice k.
  void read_x(Encoder& enc, std::uint32_t k, std::string_view label = "r") const {
    enc.dispatch(copy, Launch::threads(kN, 64),
                 {in(x), out(reads.view_of<float>(k * kN, kN)), value(kN)}, {.label = label});
  }
  void independent(Encoder& enc, const DispatchOptions& options = {.label = "z"}) const {
    enc.dispatch(fill, Launch::threads(kN, 64), {out(z), value(2.0F), value(kN)}, options);
  }
};

// w; r (conflicts with w's group); z (independent): z joins w's group, ahead of r, and the
// auto_barrier recording needs one barrier where it had two.
TEST(Reorder, PullsAnIndependentDispatchIntoTheCurrentGroup) {
  Lookahead f;
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.write_x(enc);
  f.read_x(enc, 0);
  f.read_x(enc, 1, "r2");
  f.independent(enc);
  const Recording rec = enc.finish();
  ASSERT_EQ(labels_of(rec), (std::vector<std::string>{"w", "|", "r", "r2", "z"}));
  const PassResult r = checked({Pass::Reorder}).apply(rec);
  EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"w", "z", "|", "r", "r2"}));
  EXPECT_EQ(r.report.nodes_moved(), 1U);
  EXPECT_TRUE(mentions(notes_of(r.report),
                       "moved dispatch #4 'z' (kernel fill_f32) before dispatch #2 'r'"))
      << notes_of(r.report);
  const auto want = run_floats(f.dev, rec, {f.reads, f.z});
  EXPECT_EQ(run_floats(f.dev, r.recording, {f.reads, f.z}), want);
}

// The lookahead from the node that closes the group sees the window - 1 nodes after it: an
// independent dispatch 63 nodes ahead is pulled, 64 or 65 ahead it is not.
TEST(Reorder, LookaheadWindowEdgeIs63NodesAhead) {
  for (const std::uint32_t distance : {63U, 64U, 65U}) {
    Lookahead f;
    Encoder enc = f.dev.encoder();
    f.write_x(enc);
    for (std::uint32_t k = 0; k < distance; ++k) f.read_x(enc, k);  // the first closes the group
    f.independent(enc);
    const PassResult r = checked({Pass::Reorder}).apply(enc.finish());
    const bool pulled = r.recording.node(1).label == "z";
    EXPECT_EQ(pulled, distance == 63) << "distance " << distance;
    EXPECT_EQ(r.report.nodes_moved(), distance == 63 ? 1U : 0U) << "distance " << distance;
  }
}

// The window is an option: with 4, three nodes ahead are seen and four are not.
TEST(Reorder, WindowIsAnOption) {
  for (const std::uint32_t distance : {3U, 4U}) {
    Lookahead f;
    Encoder enc = f.dev.encoder();
    f.write_x(enc);
    for (std::uint32_t k = 0; k < distance; ++k) f.read_x(enc, k);
    f.independent(enc);
    const PassResult r = checked({Pass::Reorder}, {.reorder_window = 4}).apply(enc.finish());
    EXPECT_EQ(r.report.nodes_moved(), distance == 3 ? 1U : 0U) << "distance " << distance;
  }
}

// Sdpa, Softmax and Collective dispatches, and Other dispatches not whitelisted, are fences: the
// lookahead stops at them, so neither they nor anything after them is pulled.
TEST(Reorder, FencesStopTheLookahead) {
  for (const OpKind fence : {OpKind::Sdpa, OpKind::Softmax, OpKind::Collective, OpKind::Other}) {
    Lookahead f;
    Buffer q = f.dev.alloc(kN * 4, "q");
    Encoder enc = f.dev.encoder();
    f.write_x(enc);
    f.read_x(enc, 0);
    enc.dispatch(f.fill, Launch::threads(kN, 64), {out(q), value(3.0F), value(kN)},
                 {.op = fence, .label = "fence"});
    f.independent(enc);
    const Recording rec = enc.finish();
    const PassResult r = checked({Pass::Reorder}).apply(rec);
    EXPECT_EQ(labels_of(r.recording), labels_of(rec)) << to_string(fence);
    EXPECT_EQ(r.report.nodes_moved(), 0U) << to_string(fence);
  }
}

// An explicit barrier outside barriers ordering is the user's fence.
TEST(Reorder, ExplicitBarrierIsAFenceOutsideBarriersOrdering) {
  for (const Ordering ordering : {Ordering::AutoDag, Ordering::AutoBarrier, Ordering::Serial}) {
    Lookahead f;
    Encoder enc = f.dev.encoder({.ordering = ordering});
    f.write_x(enc);
    f.read_x(enc, 0);
    enc.barrier();
    f.independent(enc);
    const PassResult r = checked({Pass::Reorder}).apply(enc.finish());
    EXPECT_EQ(r.report.nodes_moved(), 0U) << to_string(ordering);
  }
}

// Other is a fence unless its kernel is whitelisted; then it moves like any other op.
TEST(Reorder, WhitelistedOtherKernelMoves) {
  Lookahead f;
  Buffer u = f.dev.alloc(kN * 4, "u");
  Encoder enc = f.dev.encoder();
  f.write_x(enc);
  f.read_x(enc, 0);
  enc.dispatch(f.dev.kernel("fill_u32"), Launch::threads(kN, 64), {out(u), value(5U), value(kN)},
               {.label = "other"});
  const Recording rec = enc.finish();
  EXPECT_EQ(checked({Pass::Reorder}).apply(rec).report.nodes_moved(), 0U);
  const PassResult r = checked({Pass::Reorder}, {.reorderable = {"fill_u32"}}).apply(rec);
  EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"w", "other", "r"}));
}

// In barriers ordering the barriers are how the program wrote its hazards: reorder strips them,
// and the new order gets inferred barriers exactly where hazards need them (with their reason).
TEST(Reorder, BarriersOrderingStripsBarriersAndInfersTheNeededOnes) {
  Device dev = make_cpu_device();
  Buffer a = dev.alloc(kN * 4, "a"), b = dev.alloc(kN * 4, "b");
  Buffer c = dev.alloc(kN * 4, "c"), d = dev.alloc(kN * 4, "d");
  const Kernel fill = dev.kernel("fill_f32");
  const Kernel copy = dev.kernel("copy_f32");
  Encoder enc = dev.encoder({.ordering = Ordering::Barriers});
  enc.dispatch(fill, Launch::threads(kN, 64), {out(a), value(1.0F), value(kN)}, {.label = "fa"});
  enc.barrier();
  enc.dispatch(copy, Launch::threads(kN, 64), {in(a), out(c), value(kN)}, {.label = "ca"});
  enc.barrier();
  enc.dispatch(fill, Launch::threads(kN, 64), {out(b), value(2.0F), value(kN)}, {.label = "fb"});
  enc.barrier();
  enc.dispatch(copy, Launch::threads(kN, 64), {in(b), out(d), value(kN)}, {.label = "cb"});
  const Recording rec = enc.finish();
  const PassResult r = checked({Pass::Reorder}).apply(rec);
  EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"fa", "fb", "|", "ca", "cb"}));
  EXPECT_TRUE(r.recording.node(2).inferred);
  EXPECT_EQ(r.recording.node(2).dependencies.front().kind, DependencyKind::ReadAfterWrite);
  EXPECT_EQ(r.report.stages[0].barriers_dropped, 3U);
  EXPECT_EQ(r.report.barriers_removed(), 2U);
  EXPECT_EQ(r.report.nodes_moved(), 1U);
  const auto want = run_floats(dev, rec, {c, d});
  EXPECT_EQ(run_floats(dev, r.recording, {c, d}), want);
}

// Without access tags nothing can be moved safely: the pass refuses, naming itself, the
// dispatch and the arg.
TEST(Reorder, UntaggedBufferArgIsRefused) {
  Lookahead f;
  Encoder enc = f.dev.encoder();
  f.write_x(enc);
  enc.dispatch(f.copy, Launch::threads(kN, 64), {in(f.x), buffer(f.z), value(kN)},
               {.label = "untagged"});
  const Recording rec = enc.finish();
  const Error e = error_from([&] { (void)checked({Pass::Reorder}).apply(rec); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "the reorder pass needs every buffer arg tagged")) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 1 ('y') of dispatch #1 'untagged' (kernel copy_f32)"))
      << e.what();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
