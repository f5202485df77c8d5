// What a profile keeps of a command list: node facts as recorded, and the dispatch graph the
// trace draws arrows from (recorded dependencies; after a barrier, the group before it).

#include "profile/list_info.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <span>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;

std::vector<std::uint32_t> waits(const DispatchGraph& g, std::size_t node) {
  const std::span<const std::uint32_t> w = g.waits_of(node);
  return {w.begin(), w.end()};
}

// auto_dag: a dispatch waits for exactly the dispatches it has recorded dependencies on.
TEST(ListInfo, RecordedDependenciesAreTheWaits) {
  Device dev = testing::make_cpu_device();
  Buffer a = dev.alloc(64), b = dev.alloc(64), c = dev.alloc(64);
  Encoder enc = dev.encoder();
  const Kernel copy = dev.kernel("copy_f32");
  enc.dispatch(copy, cover(16), {in(a), out(b), value(16U)});  // 0
  enc.dispatch(copy, cover(16), {in(a), out(c), value(16U)});  // 1: independent
  enc.dispatch(copy, cover(16), {in(b), out(a), value(16U)});  // 2: RAW on b, WAR on a (0, 1)
  const Recording rec = enc.finish();
  const DispatchGraph g = detail::make_dispatch_graph(rec.commands());
  EXPECT_EQ(g.node_count(), 3U);
  EXPECT_TRUE(waits(g, 0).empty());
  EXPECT_TRUE(waits(g, 1).empty());
  std::vector<std::uint32_t> w2 = waits(g, 2);
  std::sort(w2.begin(), w2.end());
  EXPECT_EQ(w2, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_TRUE(waits(g, 99).empty());
}

// barriers: each dispatch after a barrier waits for the whole group before it, and through an
// empty group (two barriers in a row) for the group before that; the barrier itself has none.
TEST(ListInfo, BarriersMakeTheNextGroupWaitForThePreviousOne) {
  Device dev = testing::make_cpu_device();
  Buffer a = dev.alloc(64), b = dev.alloc(64);
  Encoder enc = dev.encoder({.ordering = Ordering::Barriers});
  const Kernel copy = dev.kernel("copy_f32");
  enc.dispatch(copy, cover(16), {in(a), out(b), value(16U)});  // 0
  enc.dispatch(copy, cover(16), {in(a), out(b), value(16U)});  // 1
  enc.barrier();                                               // 2
  enc.dispatch(copy, cover(16), {in(b), out(a), value(16U)});  // 3
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node(2).kind, NodeKind::Barrier);
  const DispatchGraph g = detail::make_dispatch_graph(rec.commands());
  EXPECT_TRUE(waits(g, 2).empty());
  EXPECT_EQ(waits(g, 3), (std::vector<std::uint32_t>{0, 1}));
}

// Node facts are copied as recorded: label, op kind (the dispatch's override), kernel, launch.
TEST(ListInfo, KeepsEachNodesFactsAsRecorded) {
  Device dev = testing::make_cpu_device();
  Buffer a = dev.alloc(256), b = dev.alloc(256);
  Encoder enc = dev.encoder({.label = "step"});
  enc.dispatch(dev.kernel("copy_f32"), Launch::groups({2, 3}, {32}).shared(128),
               {in(a), out(b), value(64U)}, {.op = OpKind::Rope, .label = "blk.0.rope"});
  const Recording rec = enc.finish();
  const auto info = detail::make_list_info(rec.commands());
  ASSERT_EQ(info->nodes.size(), 1U);
  const detail::ListInfo::Node& n = info->nodes[0];
  EXPECT_EQ(n.label, "blk.0.rope");
  EXPECT_EQ(n.op, OpKind::Rope);
  EXPECT_EQ(n.kernel, "copy_f32");
  EXPECT_EQ(n.grid, Dim3(2, 3));
  EXPECT_EQ(n.block, Dim3(32));
  EXPECT_EQ(n.shared_bytes, 128U);
  EXPECT_EQ(info->dispatch_count, 1U);
  EXPECT_EQ(info->list_id, rec.commands().id);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
