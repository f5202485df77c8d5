// The minimize pass on hand-built recordings: an explicit barrier no hazard crosses is dropped in
// every ordering mode; one a hazard crosses is kept and records that hazard as its reason; the
// groups merged by dropping barriers are checked together against the next group; dependency
// edges that a path of other edges implies are removed (which the encoder's own pruning does not
// do); results stay the same; an untagged buffer arg is refused.

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

struct Buffers {
  Device dev = make_cpu_device();
  Buffer a = dev.alloc(kN * 4, "a");
  Buffer b = dev.alloc(kN * 4, "b");
  Buffer c = dev.alloc(kN * 4, "c");
  Buffer d = dev.alloc(kN * 4, "d");
  Kernel fill = dev.kernel("fill_f32");
  Kernel copy = dev.kernel("copy_f32");
  Kernel add = dev.kernel("add_f32");

  void fill_(Encoder& enc, const Buffer& dst, std::string_view label) const {
    enc.dispatch(fill, Launch::threads(kN, 64), {out(dst), value(1.5F), value(kN)},
                 {.label = label});
  }
  void copy_(Encoder& enc, const Buffer& src, const Buffer& dst, std::string_view label) const {
    enc.dispatch(copy, Launch::threads(kN, 64), {in(src), out(dst), value(kN)}, {.label = label});
  }
};

constexpr Ordering kOrderings[] = {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier,
                                   Ordering::AutoDag};

// fill a | fill b: nothing crosses the barrier, in any ordering mode.
TEST(Minimize, DropsAnExplicitBarrierNoHazardCrosses) {
  for (const Ordering ordering : kOrderings) {
    Buffers f;
    Encoder enc = f.dev.encoder({.ordering = ordering});
    f.fill_(enc, f.a, "fa");
    enc.barrier();
    f.fill_(enc, f.b, "fb");
    const PassResult r = checked({Pass::Minimize}).apply(enc.finish());
    EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"fa", "fb"}))
        << to_string(ordering);
    EXPECT_EQ(r.report.stages[0].barriers_dropped, 1U);
    EXPECT_EQ(r.report.barriers_removed(), 1U);
    EXPECT_TRUE(mentions(notes_of(r.report), "dropped barrier #1: no hazard crosses it"));
  }
}

// fill a | copy a -> b: the barrier orders a RAW, so it stays, and says so in the dumps.
TEST(Minimize, KeepsABarrierAHazardCrossesAndRecordsWhy) {
  for (const Ordering ordering : kOrderings) {
    Buffers f;
    Encoder enc = f.dev.encoder({.ordering = ordering});
    f.fill_(enc, f.a, "fa");
    enc.barrier();
    f.copy_(enc, f.a, f.b, "ab");
    const PassResult r = checked({Pass::Minimize}).apply(enc.finish());
    ASSERT_EQ(labels_of(r.recording), (std::vector<std::string>{"fa", "|", "ab"}))
        << to_string(ordering);
    const NodeInfo barrier = r.recording.node(1);
    EXPECT_FALSE(barrier.inferred);
    ASSERT_EQ(barrier.dependencies.size(), 1U);
    EXPECT_EQ(barrier.dependencies[0].kind, DependencyKind::ReadAfterWrite);
    EXPECT_EQ(barrier.dependencies[0].node, 0U);
    EXPECT_TRUE(mentions(r.recording.to_string(), "#1 barrier (explicit, kept for RAW"))
        << r.recording.to_string();
  }
}

// Dropping a barrier merges its groups, and the next barrier is checked against the merged
// group: fill a | fill b | copy a -> c keeps only the second barrier. A hazard with a group an
// earlier kept barrier already separates does not keep a later barrier.
TEST(Minimize, ChecksTheNextGroupAgainstEveryMergedGroup) {
  {
    Buffers f;
    Encoder enc = f.dev.encoder({.ordering = Ordering::Barriers});
    f.fill_(enc, f.a, "fa");
    enc.barrier();
    f.fill_(enc, f.b, "fb");
    enc.barrier();
    f.copy_(enc, f.a, f.c, "ac");
    const PassResult r = checked({Pass::Minimize}).apply(enc.finish());
    EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"fa", "fb", "|", "ac"}));
  }
  Buffers f;
  Encoder enc = f.dev.encoder({.ordering = Ordering::Barriers});
  f.fill_(enc, f.a, "fa");
  enc.barrier();
  f.copy_(enc, f.a, f.b, "ab");
  enc.barrier();
  f.copy_(enc, f.a, f.c, "ac");  // reads a too: ordered after fa by the first barrier
  const Recording rec = enc.finish();
  const PassResult r = checked({Pass::Minimize}).apply(rec);
  EXPECT_EQ(labels_of(r.recording), (std::vector<std::string>{"fa", "|", "ab", "ac"}));
  const auto want = run_floats(f.dev, rec, {f.b, f.c});
  EXPECT_EQ(run_floats(f.dev, r.recording, {f.b, f.c}), want);
}

// A -> B -> C -> D where D also reads A's output: the encoder keeps D's edge to A (C does not
// depend on A directly), the transitive reduction drops it.
TEST(Minimize, RemovesEdgesAPathOfOtherEdgesImplies) {
  Buffers f;
  Encoder enc = f.dev.encoder();
  f.copy_(enc, f.a, f.c, "A");
  f.copy_(enc, f.c, f.d, "B");
  f.copy_(enc, f.d, f.b, "C");
  enc.dispatch(f.add, Launch::threads(kN, 64), {in(f.c), in(f.b), out(f.a), value(kN)},
               {.label = "D"});
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node(3).dependencies.size(), 2U) << rec.to_string();
  const PassResult r = checked({Pass::Minimize}).apply(rec);
  ASSERT_EQ(r.recording.node(3).dependencies.size(), 1U) << r.recording.to_string();
  EXPECT_EQ(r.recording.node(3).dependencies[0].node, 2U);
  EXPECT_EQ(r.report.edges_removed(), 1U);
  const auto run = [&](const Recording& which) {
    f.a.upload(std::span<const float>(std::vector<float>{1, 2, 3, 4}));
    return run_floats(f.dev, which, {f.a, f.b, f.c, f.d});
  };
  EXPECT_EQ(run(r.recording), run(rec));
}

// The reduction is exact beyond its 64-node ancestor masks too: a chain of 70 copies from slice 0
// to slice 70, then a dispatch reading slices 0 and 70, loses its edge to the chain's start.
TEST(Minimize, RemovesImpliedEdgesBetweenDispatchesMoreThan64NodesApart) {
  Device dev = make_cpu_device();
  constexpr std::uint32_t kLinks = 70;
  Buffer chain = dev.alloc((kLinks + 1) * kN * 4, "chain");
  Buffer sum = dev.alloc(kN * 4, "sum");
  const auto slice = [&](std::uint32_t k) { return chain.view_of<float>(k * kN, kN); };
  Encoder enc = dev.encoder();
  enc.dispatch(dev.kernel("fill_f32"), Launch::threads(kN, 64),
               {out(slice(0)), value(1.0F), value(kN)});
  for (std::uint32_t k = 1; k <= kLinks; ++k) {
    enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kN, 64),
                 {in(slice(k - 1)), out(slice(k)), value(kN)});
  }
  enc.dispatch(dev.kernel("add_f32"), Launch::threads(kN, 64),
               {in(slice(0)), in(slice(kLinks)), out(sum), value(kN)});
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node(kLinks + 1).dependencies.size(), 2U) << "the encoder keeps both";
  const PassResult r = checked({Pass::Minimize}).apply(rec);
  const NodeInfo last = r.recording.node(kLinks + 1);
  ASSERT_EQ(last.dependencies.size(), 1U);
  EXPECT_EQ(last.dependencies[0].node, kLinks);
  EXPECT_EQ(r.report.edges_removed(), 1U);
}

// Without the reduction (no minimize) the recomputed edges are the encoder's.
TEST(Minimize, OtherPassesKeepTheEncodersEdges) {
  Buffers f;
  Encoder enc = f.dev.encoder();
  f.copy_(enc, f.a, f.c, "A");
  f.copy_(enc, f.c, f.d, "B");
  f.copy_(enc, f.d, f.b, "C");
  enc.dispatch(f.add, Launch::threads(kN, 64), {in(f.c), in(f.b), out(f.a), value(kN)});
  const Recording rec = enc.finish();
  const PassResult r = checked({Pass::Reorder}).apply(rec);
  EXPECT_EQ(r.recording.edge_count(), rec.edge_count());
  EXPECT_EQ(r.recording.to_string().substr(r.recording.to_string().find('\n')),
            rec.to_string().substr(rec.to_string().find('\n')));
}

// An untagged arg hides what a dispatch touches: no barrier can be judged redundant.
TEST(Minimize, UntaggedBufferArgIsRefused) {
  Buffers f;
  Encoder enc = f.dev.encoder({.ordering = Ordering::Barriers});
  f.fill_(enc, f.a, "fa");
  enc.barrier();
  enc.dispatch(f.copy, Launch::threads(kN, 64), {buffer(f.a), out(f.b), value(kN)});
  const Recording rec = enc.finish();
  const Error e = error_from([&] { (void)checked({Pass::Minimize}).apply(rec); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "the minimize pass needs every buffer arg tagged")) << e.what();
  EXPECT_TRUE(mentions(e.what(), "arg 0 ('x') of dispatch #2")) << e.what();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
