// The fusion pass on hand-built recordings: each default rule fuses what it should (one dispatch
// of the fused kernel, op kind and label note, results byte-identical), chains fuse twice, and
// every case the seed got wrong is refused with a note that says why: an intermediate read
// elsewhere or declared live-out, views that differ by offset or size, another dtype, element
// counts that do not match, a conflict with a dispatch in between, aliasing the fused kernel
// would add, and op kinds the user overrode. Rules form a table tests can extend, and a
// malformed rule is an error.

#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "ir/passes/pass_test_helpers.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::checked;
using testing::error_from;
using testing::kernels_of;
using testing::labels_of;
using testing::mentions;
using testing::norm_device;
using testing::notes_of;
using testing::ramp;
using testing::run_floats;
using testing::upload_floats;

constexpr std::uint32_t kRows = 2;
constexpr std::uint32_t kN = 8;
constexpr std::uint32_t kElems = kRows * kN;
constexpr float kEps = 1e-5F;

// rms_norm_f32 over kRows rows of kN, then mul_f32 of its output and a weight, and the buffers.
struct NormMul {
  Device dev = norm_device();
  Buffer x = upload_floats(dev, ramp(kElems), "x");
  Buffer w = upload_floats(dev, ramp(kElems, -0.25F), "w");
  Buffer t = dev.alloc(kElems * 4, "t");  // the intermediate
  Buffer y = dev.alloc(kElems * 4, "y");
  Kernel norm = dev.kernel("rms_norm_f32");
  Kernel mul = dev.kernel("mul_f32");
  Kernel add = dev.kernel("add_f32");
  Kernel copy = dev.kernel("copy_f32");
  Kernel fill = dev.kernel("fill_f32");

  void dispatch_norm(Encoder& enc, const BufferView& src, const BufferView& dst,
                     std::string_view label = "blk.0.norm") const {
    enc.dispatch(norm, Launch::groups(kRows, 32), {in(src), out(dst), value(kN), value(kEps)},
                 {.label = label});
  }
  void dispatch_mul(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& c,
                    std::uint32_t n = kElems) const {
    enc.dispatch(mul, Launch::threads(n, 64), {in(a), in(b), out(c), value(n)},
                 {.label = "blk.0.mul"});
  }
};

// Fuses with `pipeline`, checks the results against the unfused recording, returns the result.
PassResult fuse_and_compare(NormMul& f, const Recording& rec, const std::vector<Buffer>& outputs,
                            PassOptions options = {}) {
  const auto want = run_floats(f.dev, rec, outputs);
  PassResult r = checked({Pass::Fuse}, std::move(options)).apply(rec);
  for (const Buffer& b : outputs)
    b.upload(std::span<const float>(std::vector<float>(kElems, 9.0F)));
  EXPECT_EQ(run_floats(f.dev, r.recording, outputs), want) << r.report.to_string();
  return r;
}

// rms_norm_f32 then mul_f32 of its output is one rms_norm_mul_f32 dispatch: op RmsNormMul, the
// norm's label plus "+mul", the norm's launch, and the very same bytes.
TEST(Fusion, NormThenMulOfItsOutputBecomesOneFusedDispatch) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.y);
  const Recording rec = enc.finish();
  const PassResult r = fuse_and_compare(f, rec, {f.y});
  ASSERT_EQ(r.recording.dispatch_count(), 1U) << r.recording.to_string();
  const NodeInfo n = r.recording.node(0);
  EXPECT_EQ(n.kernel, "rms_norm_mul_f32");
  EXPECT_EQ(n.op, OpKind::RmsNormMul);
  EXPECT_EQ(n.label, "blk.0.norm+mul");
  EXPECT_EQ(n.launch, Launch::groups(kRows, 32));
  EXPECT_EQ(n.origins, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(r.report.nodes_fused(), 1U);
  EXPECT_TRUE(mentions(notes_of(r.report), "fused dispatch #0")) << notes_of(r.report);
}

// mul_f32 is commutative: the intermediate may be its second operand; the weight is then its first.
TEST(Fusion, IntermediateAsTheMulsSecondOperandFusesToo) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.w, f.t, f.y);
  const PassResult r = fuse_and_compare(f, enc.finish(), {f.y});
  EXPECT_EQ(kernels_of(r.recording), (std::vector<std::string>{"rms_norm_mul_f32"}));
}

// add_f32 then rms_norm_f32 of the sum is add_rms_norm_f32, which still writes the sum, so the
// sum stays readable by later dispatches (the residual stream of a transformer).
TEST(Fusion, AddThenNormOfTheSumFusesAndKeepsWritingTheSum) {
  NormMul f;
  Buffer s = f.dev.alloc(kElems * 4, "sum");
  Buffer later = f.dev.alloc(kElems * 4, "later");
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.add, Launch::threads(kElems, 64), {in(f.x), in(f.w), out(s), value(kElems)},
               {.label = "blk.0.residual"});
  f.dispatch_norm(enc, s, f.y);
  enc.dispatch(f.copy, Launch::threads(kElems, 64), {in(s), out(later), value(kElems)});
  const PassResult r = fuse_and_compare(f, enc.finish(), {f.y, s, later});
  EXPECT_EQ(kernels_of(r.recording), (std::vector<std::string>{"add_rms_norm_f32", "copy_f32"}));
  EXPECT_EQ(r.recording.node(0).op, OpKind::AddRmsNorm);
  EXPECT_EQ(r.recording.node(0).label, "blk.0.residual+rms_norm");
}

// add, rms_norm of the sum, mul of the norm: two fusions in one pass, one dispatch left.
TEST(Fusion, AddNormMulChainFusesIntoOneDispatch) {
  NormMul f;
  Buffer s = f.dev.alloc(kElems * 4, "sum");
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.add, Launch::threads(kElems, 64), {in(f.x), in(f.w), out(s), value(kElems)},
               {.label = "blk.1.residual"});
  f.dispatch_norm(enc, s, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.y);
  const PassResult r = fuse_and_compare(f, enc.finish(), {f.y, s});
  EXPECT_EQ(kernels_of(r.recording), (std::vector<std::string>{"add_rms_norm_mul_f32"}));
  EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"blk.1.residual+rms_norm+mul"}));
  EXPECT_EQ(r.report.nodes_fused(), 2U);
}

// A block recorded with the op library's encode helpers (unfused norms, weight multiplies and the
// in-place residual add) fuses into rms_norm_mul_f32 and add_rms_norm_mul_f32, byte-identical.
TEST(Fusion, OpLibraryRecordingsFuse) {
  NormMul f;
  Buffer residual = upload_floats(f.dev, ramp(kElems, 0.5F), "residual");
  Buffer y2 = f.dev.alloc(kElems * 4, "y2");
  const ops::OpEncoder ops(f.dev);
  Encoder enc = f.dev.encoder();
  ops.rms_norm(enc, f.x, f.t, kN, kEps, "blk.0.attn_norm");
  ops.mul(enc, f.t, f.w, f.y, "blk.0.attn_norm.w");
  ops.add(enc, residual, f.y, residual, "blk.0.residual");
  ops.rms_norm(enc, residual, f.t, kN, kEps, "blk.0.ffn_norm");
  ops.mul(enc, f.w, f.t, y2, "blk.0.ffn_norm.w");
  const Recording rec = enc.finish();
  const auto run = [&](const Recording& which) {
    residual.upload(std::span<const float>(ramp(kElems, 0.5F)));
    return run_floats(f.dev, which, {f.y, residual, y2});
  };
  const PassResult r = checked({Pass::Fuse}, {.live_out = {f.y, residual, y2}}).apply(rec);
  EXPECT_EQ(kernels_of(r.recording),
            (std::vector<std::string>{"rms_norm_mul_f32", "add_rms_norm_mul_f32"}));
  EXPECT_EQ(labels_of(r.recording),
            (std::vector<std::string>{"blk.0.attn_norm+mul", "blk.0.residual+rms_norm+mul"}));
  EXPECT_EQ(run(r.recording), run(rec));
}

// The in-place residual add (sum == a, the very same view) keeps its alias in the fused kernel.
TEST(Fusion, InPlaceAddKeepsItsExactAlias) {
  NormMul f;
  Buffer acc = upload_floats(f.dev, ramp(kElems, 0.5F), "residual");
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.add, Launch::threads(kElems, 64), {in(acc), in(f.w), out(acc), value(kElems)});
  f.dispatch_norm(enc, acc, f.y);
  const Recording rec = enc.finish();
  const auto want = run_floats(f.dev, rec, {f.y, acc});
  acc.upload(std::span<const float>(ramp(kElems, 0.5F)));
  const PassResult r = checked({Pass::Fuse}).apply(rec);
  EXPECT_EQ(kernels_of(r.recording), (std::vector<std::string>{"add_rms_norm_f32"}));
  EXPECT_EQ(run_floats(f.dev, r.recording, {f.y, acc}), want);
}

// Seed flaw: the norm's output is read by another dispatch too; the fused kernel would no longer
// write it, so nothing fuses.
TEST(Fusion, IntermediateReadElsewhereIsNotFused) {
  NormMul f;
  Buffer other = f.dev.alloc(kElems * 4, "other");
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.y);
  enc.dispatch(f.copy, Launch::threads(kElems, 64), {in(f.t), out(other), value(kElems)},
               {.label = "reader"});
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 3U);
  EXPECT_TRUE(mentions(notes_of(r.report), "read by dispatch #2 'reader'")) << notes_of(r.report);
}

// A read after the intermediate was overwritten whole sees the new value, not the norm's: fine.
TEST(Fusion, ReadAfterTheIntermediateIsOverwrittenWholeDoesNotBlock) {
  NormMul f;
  Buffer other = f.dev.alloc(kElems * 4, "other");
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.y);
  enc.dispatch(f.fill, Launch::threads(kElems, 64), {out(f.t), value(2.0F), value(kElems)});
  enc.dispatch(f.copy, Launch::threads(kElems, 64), {in(f.t), out(other), value(kElems)});
  const PassResult r = fuse_and_compare(f, enc.finish(), {f.y, f.t, other});
  EXPECT_EQ(r.recording.dispatch_count(), 3U);
  EXPECT_EQ(r.recording.node(0).kernel, "rms_norm_mul_f32");
}

// An overwrite of half the intermediate leaves the other half observable: not fused.
TEST(Fusion, PartialOverwriteLeavesTheIntermediateObservable) {
  NormMul f;
  Buffer other = f.dev.alloc(kElems * 4, "other");
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.y);
  enc.dispatch(f.fill, Launch::threads(kN, 64),
               {out(f.t.view_of<float>(0, kN)), value(2.0F), value(kN)});
  enc.dispatch(f.copy, Launch::threads(kN, 64),
               {in(f.t.view_of<float>(kN, kN)), out(other.view_of<float>(0, kN)), value(kN)});
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 4U);
  EXPECT_TRUE(mentions(notes_of(r.report), "read by dispatch #3")) << notes_of(r.report);
}

// An intermediate never overwritten but declared live-out (the host reads it) is not fused;
// without the declaration it is.
TEST(Fusion, LiveOutIntermediateIsNotFused) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.y);
  const Recording rec = enc.finish();
  const PassResult kept =
      checked({Pass::Fuse}, {.live_out = {f.t.view_of<float>(kN - 1, 2)}}).apply(rec);
  EXPECT_EQ(kept.recording.dispatch_count(), 2U);
  EXPECT_TRUE(mentions(notes_of(kept.report), "live_out")) << notes_of(kept.report);
  const PassResult fused = checked({Pass::Fuse}, {.live_out = {f.y}}).apply(rec);
  EXPECT_EQ(fused.recording.dispatch_count(), 1U);
}

// Seed flaw: it compared buffer objects, not views. A mul reading a sibling slice of the norm's
// output (same allocation, other offset) or a shorter view of it does not fuse; the exact view of
// the allocation's second half does.
TEST(Fusion, ViewsThatDifferByOffsetOrSizeDoNotFuse) {
  NormMul f;
  Buffer wide = f.dev.alloc(2 * kElems * 4, "wide");
  const BufferView first_half = wide.view_of<float>(0, kElems);
  {
    Encoder enc = f.dev.encoder();
    f.dispatch_norm(enc, f.x, first_half);
    f.dispatch_mul(enc, wide.view_of<float>(kElems, kElems), f.w, f.y);
    EXPECT_EQ(checked({Pass::Fuse}).apply(enc.finish()).recording.dispatch_count(), 2U);
  }
  {
    Encoder enc = f.dev.encoder();
    f.dispatch_norm(enc, f.x, first_half);
    f.dispatch_mul(enc, wide.view_of<float>(0, kN), f.w.view_of<float>(0, kN),
                   f.y.view_of<float>(0, kN), kN);
    const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
    EXPECT_EQ(r.recording.dispatch_count(), 2U);
    EXPECT_TRUE(mentions(notes_of(r.report), "exact view")) << notes_of(r.report);
  }
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, wide.view_of<float>(kElems, kElems));
  f.dispatch_mul(enc, wide.view_of<float>(kElems, kElems), f.w, f.y);
  EXPECT_EQ(checked({Pass::Fuse}).apply(enc.finish()).recording.dispatch_count(), 1U);
}

// Seed flaw: it ignored the mul's dtype. A multiply of another kernel (here mul_bf16) is not
// mul_f32 and never fuses, whatever its op kind says.
TEST(Fusion, MulOfAnotherDtypeIsNotFused) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  enc.dispatch(f.dev.kernel("mul_bf16"), Launch::threads(kElems, 64),
               {in(f.t), in(f.w), out(f.y), value(kElems)});
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 2U);
  EXPECT_TRUE(mentions(notes_of(r.report), "which is not a mul_f32")) << notes_of(r.report);
}

// Seed flaw: it ignored element counts. A mul over fewer elements than the norm wrote, or a norm
// whose rows do not cover its views, is refused by the rule's shape check.
TEST(Fusion, ElementCountsThatDoNotMatchAreNotFused) {
  NormMul f;
  {
    Encoder enc = f.dev.encoder();
    f.dispatch_norm(enc, f.x, f.t);
    enc.dispatch(f.mul, Launch::threads(kElems, 64), {in(f.t), in(f.w), out(f.y), value(kN)});
    const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
    EXPECT_EQ(r.recording.dispatch_count(), 2U);
    EXPECT_TRUE(mentions(notes_of(r.report), "not n * 4")) << notes_of(r.report);
  }
  {
    Encoder enc = f.dev.encoder();
    enc.dispatch(f.norm, Launch::groups(1, 32), {in(f.x), out(f.t), value(kN), value(kEps)});
    f.dispatch_mul(enc, f.t, f.w, f.y);
    const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
    EXPECT_EQ(r.recording.dispatch_count(), 2U);
    EXPECT_TRUE(mentions(notes_of(r.report), "not rows * n * 4")) << notes_of(r.report);
  }
  {  // a mul launched over half its elements computes half of them
    Encoder enc = f.dev.encoder();
    f.dispatch_norm(enc, f.x, f.t);
    enc.dispatch(f.mul, Launch::groups(1, kN), {in(f.t), in(f.w), out(f.y), value(kElems)});
    const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
    EXPECT_EQ(r.recording.dispatch_count(), 2U);
    EXPECT_TRUE(mentions(notes_of(r.report), "does not cover")) << notes_of(r.report);
  }
  {  // a row length given as a slot could change between replays: no shape can be proved
    Encoder enc = f.dev.encoder();
    enc.dispatch(f.norm, Launch::groups(kRows, 32),
                 {in(f.x), out(f.t), slot("n", kN), value(kEps)});
    f.dispatch_mul(enc, f.t, f.w, f.y);
    const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
    EXPECT_EQ(r.recording.dispatch_count(), 2U);
    EXPECT_TRUE(mentions(notes_of(r.report), "slot")) << notes_of(r.report);
  }
}

// The norm cannot move down to the mul past a dispatch that overwrites its input.
TEST(Fusion, ConflictWithADispatchInBetweenBlocksFusion) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  enc.dispatch(f.fill, Launch::threads(kElems, 64), {out(f.x), value(3.0F), value(kElems)},
               {.label = "clobber"});
  f.dispatch_mul(enc, f.t, f.w, f.y);
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 3U);
  EXPECT_TRUE(mentions(notes_of(r.report), "cannot move past dispatch #1 'clobber'"))
      << notes_of(r.report);
}

// An independent dispatch in between (and an explicit barrier) does not block: the fused
// dispatch takes the mul's place, after it.
TEST(Fusion, IndependentDispatchInBetweenLetsTheNormMoveDown) {
  NormMul f;
  Buffer z = f.dev.alloc(kElems * 4, "z");
  Encoder enc = f.dev.encoder({.ordering = Ordering::Barriers});
  f.dispatch_norm(enc, f.x, f.t);
  enc.barrier();
  enc.dispatch(f.fill, Launch::threads(kElems, 64), {out(z), value(3.0F), value(kElems)});
  f.dispatch_mul(enc, f.t, f.w, f.y);
  const PassResult r = fuse_and_compare(f, enc.finish(), {f.y, z});
  EXPECT_EQ(kernels_of(r.recording), (std::vector<std::string>{"fill_f32", "rms_norm_mul_f32"}));
}

// auto_dag with an explicit barrier between norm and mul: the fused dispatch lands after the
// barrier, so a later write of the norm's input, which only the barrier ordered after the norm,
// now needs an edge to the fused dispatch. (Found by the pass property test.)
TEST(Fusion, FusionAcrossAnExplicitBarrierKeepsLaterHazardsOrdered) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  enc.barrier();
  f.dispatch_mul(enc, f.t, f.w, f.y);
  enc.dispatch(f.fill, Launch::threads(kElems, 64), {out(f.x), value(3.0F), value(kElems)},
               {.label = "overwrite x"});
  const Recording rec = enc.finish();
  const auto run = [&](const Recording& which) {
    f.x.upload(std::span<const float>(ramp(kElems)));
    return run_floats(f.dev, which, {f.y, f.x});
  };
  const PassResult r = checked({Pass::Fuse}).apply(rec);
  EXPECT_EQ(run(r.recording), run(rec));
  ASSERT_EQ(kernels_of(r.recording), (std::vector<std::string>{"rms_norm_mul_f32", "fill_f32"}));
  ASSERT_EQ(r.recording.node(1).dependencies.size(), 1U) << r.recording.to_string();
  EXPECT_EQ(r.recording.node(1).dependencies[0].kind, DependencyKind::WriteAfterRead);
}

// Fused args may alias only as one of the dispatches already did: a mul writing back into the
// norm's input would make the fused kernel write what it reads.
TEST(Fusion, AliasTheFusedKernelWouldAddIsRefused) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  f.dispatch_mul(enc, f.t, f.w, f.x);
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 2U);
  EXPECT_TRUE(mentions(notes_of(r.report), "alias")) << notes_of(r.report);
}

// A norm whose output partially overlaps its input computes what its kernel's row order makes
// of that (row 1 reads what row 0 wrote); the fused kernel would not, so it is not fused.
// (Found by the pass property test.)
TEST(Fusion, DispatchReadingAndWritingOverlappingViewsIsNotFused) {
  NormMul f;
  Buffer wide = upload_floats(f.dev, ramp(kElems + 1), "wide");
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, wide.view_of<float>(0, kElems), wide.view_of<float>(1, kElems));
  f.dispatch_mul(enc, f.w, wide.view_of<float>(1, kElems), f.y);
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 2U);
  EXPECT_TRUE(mentions(notes_of(r.report), "reads and writes overlapping views"))
      << notes_of(r.report);
}

// A dispatch whose op kind the user overrode is not what the rule matches: never fused.
TEST(Fusion, OverriddenOpKindIsNotFused) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  enc.dispatch(f.norm, Launch::groups(kRows, 32), {in(f.x), out(f.t), value(kN), value(kEps)},
               {.op = OpKind::Other});
  f.dispatch_mul(enc, f.t, f.w, f.y);
  EXPECT_EQ(checked({Pass::Fuse}).apply(enc.finish()).recording.dispatch_count(), 2U);
}

// Without the fused kernel in the registry the rule is skipped, and says so.
TEST(Fusion, RuleWhoseKernelIsNotRegisteredIsSkipped) {
  auto registry = testing::make_portable_registry();
  registry->add({.name = "rms_norm_f32",
                 .params = {Param::in("x"), Param::out("y"), Param::value<std::uint32_t>("n"),
                            Param::value<float>("eps")},
                 .op = OpKind::RmsNorm,
                 .cpu = [](const CpuKernelContext&) {}});
  Device dev = testing::make_cpu_device({}, registry);
  Buffer x = dev.alloc(kElems * 4), t = dev.alloc(kElems * 4), y = dev.alloc(kElems * 4);
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("rms_norm_f32"), Launch::groups(kRows, 32),
               {in(x), out(t), value(kN), value(kEps)});
  enc.dispatch(dev.kernel("mul_f32"), Launch::threads(kElems, 64),
               {in(t), in(x), out(y), value(kElems)});
  const PassResult r = checked({Pass::Fuse}).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 2U);
  EXPECT_TRUE(mentions(notes_of(r.report), "rms_norm_f32+mul_f32 -> rms_norm_mul_f32 skipped"))
      << notes_of(r.report);
}

// The rule table is extensible: a test rule fuses copy_f32 then scale_f32 of the copy into a
// test kernel, with the launch of the second dispatch.
TEST(Fusion, TestsCanAddRules) {
  auto registry = testing::make_norm_registry();
  registry->add({.name = "scaled_copy_f32",
                 .params = {Param::in("x"), Param::out("y"), Param::value<float>("alpha"),
                            Param::value<std::uint32_t>("n")},
                 .op = OpKind::ElemScale,
                 // scale(copy(x)) is scale(x): scale_f32's implementations compute it.
                 .cpu = registry->find("scale_f32")->cpu,
                 .cuda = registry->find("scale_f32")->cuda});
  Device dev = testing::make_cpu_device({}, registry);
  Buffer x = upload_floats(dev, ramp(kElems)), t = dev.alloc(kElems * 4), y = dev.alloc(kElems * 4);
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kElems, 64), {in(x), out(t), value(kElems)});
  enc.dispatch(dev.kernel("scale_f32"), Launch::threads(kElems, 32),
               {in(t), out(y), value(2.0F), value(kElems)});
  const Recording rec = enc.finish();
  const auto want = run_floats(dev, rec, {y});
  using From = FusedArg::From;
  PassOptions options;
  options.fusion_rules.push_back(
      {.first = "copy_f32",
       .second = "scale_f32",
       .fused = "scaled_copy_f32",
       .intermediate = 1,
       .second_inputs = {0},
       .args = {{From::First, 0}, {From::Second, 1}, {From::Second, 2}, {From::Second, 3}},
       .launch_of_second = true,
       .note = "scale"});
  const PassResult r = checked({Pass::Fuse}, options).apply(rec);
  EXPECT_EQ(kernels_of(r.recording), (std::vector<std::string>{"scaled_copy_f32"}));
  EXPECT_EQ(r.recording.node(0).launch, Launch::threads(kElems, 32));
  y.upload(std::span<const float>(std::vector<float>(kElems, 0.0F)));
  EXPECT_EQ(run_floats(dev, r.recording, {y}), want);
}

// A fused kernel must run wherever its parts ran: without the CPU implementation both parts have,
// the rule is skipped, and says so.
TEST(Fusion, RuleWhoseFusedKernelLacksAnImplementationIsSkipped) {
  auto registry = testing::make_norm_registry();
  registry->add({.name = "scaled_copy_f32",
                 .params = {Param::in("x"), Param::out("y"), Param::value<float>("alpha"),
                            Param::value<std::uint32_t>("n")},
                 .op = OpKind::ElemScale});
  Device dev = testing::make_cpu_device({}, registry);
  Buffer x = dev.alloc(kElems * 4), t = dev.alloc(kElems * 4), y = dev.alloc(kElems * 4);
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kElems, 64), {in(x), out(t), value(kElems)});
  enc.dispatch(dev.kernel("scale_f32"), Launch::threads(kElems, 64),
               {in(t), out(y), value(2.0F), value(kElems)});
  using From = FusedArg::From;
  PassOptions options;
  options.fusion_rules = {
      {.first = "copy_f32",
       .second = "scale_f32",
       .fused = "scaled_copy_f32",
       .intermediate = 1,
       .second_inputs = {0},
       .args = {{From::First, 0}, {From::Second, 1}, {From::Second, 2}, {From::Second, 3}}}};
  const PassResult r = checked({Pass::Fuse}, options).apply(enc.finish());
  EXPECT_EQ(r.recording.dispatch_count(), 2U);
  EXPECT_TRUE(mentions(notes_of(r.report), "lacks an implementation its parts have"))
      << notes_of(r.report);
}

// A rule that maps the wrong number of args (or a param of the wrong kind) is an error naming
// the rule, not a silent miscompile.
TEST(Fusion, MalformedRuleIsAnError) {
  NormMul f;
  Encoder enc = f.dev.encoder();
  f.dispatch_norm(enc, f.x, f.t);
  const Recording rec = enc.finish();
  PassOptions options;
  options.fusion_rules[0].args.pop_back();
  const Error e = error_from([&] { (void)checked({Pass::Fuse}, options).apply(rec); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "fusion rule rms_norm_f32+mul_f32")) << e.what();
  EXPECT_TRUE(mentions(e.what(), "4 args mapped, but rms_norm_mul_f32 has 5 params")) << e.what();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
