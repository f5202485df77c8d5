// Dumps of pass-made recordings explain them: a fused dispatch names the nodes it came from, a
// moved one its old index, a barrier reorder inferred its hazard, an explicit barrier minimize
// kept the hazard across it; NodeInfo::origins says the same, and the DOT shows it too.

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
using testing::mentions;
using testing::norm_device;

constexpr std::uint32_t kN = 4;

TEST(PassDump, NamesWhereEveryNodeCameFromAndWhyEveryBarrierIsThere) {
  Device dev = norm_device();
  Buffer x = dev.alloc(kN * 4, "x"), w = dev.alloc(kN * 4, "w"), t = dev.alloc(kN * 4, "t");
  Buffer y = dev.alloc(kN * 4, "y"), z = dev.alloc(kN * 4, "z"), u = dev.alloc(kN * 4, "u");
  Encoder enc = dev.encoder({.ordering = Ordering::AutoBarrier});
  enc.dispatch(dev.kernel("rms_norm_f32"), Launch::groups(1, 32),
               {in(x), out(t), value(kN), value(1e-5F)}, {.label = "norm"});  // #0
  enc.dispatch(dev.kernel("mul_f32"), Launch::threads(kN, 64),                // #2 (#1 barrier)
               {in(t), in(w), out(y), value(kN)}, {.label = "mul"});
  enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kN, 64),  // #4 (#3 barrier)
               {in(y), out(z), value(kN)}, {.label = "copy"});
  enc.barrier();                                                 // #5
  enc.dispatch(dev.kernel("fill_f32"), Launch::threads(kN, 64),  // #6
               {out(u), value(1.0F), value(kN)}, {.label = "fill"});
  enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kN, 64),  // #7
               {in(z), out(x), value(kN)}, {.label = "back"});
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node_count(), 8U) << rec.to_string();
  const PassResult r = checked({Pass::Fuse, Pass::Reorder, Pass::Minimize}).apply(rec);
  const Recording& out = r.recording;
  // norm+mul | copy | fill back: the explicit barrier is a fence for reorder, and minimize keeps
  // it because back reads z, which copy wrote.
  const std::string text = out.to_string();
  ASSERT_EQ(out.node_count(), 6U) << text;
  EXPECT_TRUE(mentions(text, "#0 dispatch rms_norm_mul_f32 'norm+mul'")) << text;
  EXPECT_TRUE(mentions(text, "(from #0+#2)")) << text;
  EXPECT_EQ(out.node(0).origins, (std::vector<std::size_t>{0, 2}));
  EXPECT_TRUE(mentions(text, "#1 barrier (inferred: RAW buf#" + std::to_string(y.id()))) << text;
  EXPECT_TRUE(out.node(1).origins.empty());
  EXPECT_TRUE(mentions(text,
                       "#2 dispatch copy_f32 'copy' op=Copy grid=(1, 1, 1) block=(64, 1, 1) "
                       "(was #4)"))
      << text;
  EXPECT_TRUE(mentions(text, "#3 barrier (explicit, kept for RAW buf#" + std::to_string(z.id())))
      << text;
  EXPECT_TRUE(mentions(text, "(was #5)")) << text;
  const std::string dot = out.to_dot();
  EXPECT_TRUE(mentions(dot, "from #0+#2")) << dot;
  EXPECT_TRUE(mentions(dot, "explicit, kept for RAW")) << dot;
  // An encoder-made recording has no origins and no provenance notes.
  EXPECT_TRUE(rec.node(0).origins.empty());
  EXPECT_FALSE(mentions(rec.to_string(), "(was #")) << rec.to_string();
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
