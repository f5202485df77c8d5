// Predecessors and covering predecessors of recorded command lists: a chain, a node whose
// predecessors lie on one path (the auto_dag encoder keeps such edges), two unordered
// predecessors, barriers, and the search budget.

#include "core/predecessors.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore::detail {
namespace {
namespace ENCORE_TEST_FILE {

constexpr std::uint32_t kN = 16;

class CoveringPredecessorsTest : public ::testing::Test {
 protected:
  // c = a + b on the basic add kernel.
  void add(Encoder& enc, const Buffer& a, const Buffer& b, const Buffer& c) {
    enc.dispatch(kernel_, Launch::threads(kN, 32), {in(a), in(b), out(c), value(kN)});
  }
  Buffer buffer() { return device_.alloc(kN * 4); }

  // The covering predecessor of every node.
  static std::vector<std::uint32_t> covering(const Recording& rec) {
    const Predecessors preds = predecessors_of(rec.commands());
    CoveringPredecessors cover(preds);
    std::vector<std::uint32_t> out;
    for (std::uint32_t i = 0; i < rec.node_count(); ++i) out.push_back(cover.of(i));
    return out;
  }

  Device device_ = testing::make_cpu_device();
  Kernel kernel_ = device_.kernel("add_f32");
};

// In a chain each node's only predecessor covers it; the first node has none.
TEST_F(CoveringPredecessorsTest, ChainNodesAreCoveredByThePreviousNode) {
  Buffer x = buffer(), y = buffer(), z = buffer();
  Encoder enc = device_.encoder();
  add(enc, x, x, y);
  add(enc, y, y, z);
  add(enc, z, z, x);
  const Recording rec = enc.finish();
  EXPECT_EQ(covering(rec), (std::vector<std::uint32_t>{kNoNode, 0, 1}));
}

// x -> y -> z, then w = x + z: the node depends on node 0 and node 2 (the encoder keeps both
// edges: node 2 does not depend on node 0 directly), and node 2 covers node 0 through node 1.
TEST_F(CoveringPredecessorsTest, PredecessorsOnOnePathAreCoveredByTheLatest) {
  Buffer p = buffer(), x = buffer(), y = buffer(), z = buffer(), w = buffer();
  Encoder enc = device_.encoder();
  add(enc, p, p, x);
  add(enc, x, x, y);
  add(enc, y, y, z);
  add(enc, x, z, w);
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node(3).dependencies.size(), 2U);
  EXPECT_EQ(covering(rec)[3], 2U);
}

// Two independent producers joined by one consumer: neither covers the other.
TEST_F(CoveringPredecessorsTest, UnorderedPredecessorsHaveNoCover) {
  Buffer p = buffer(), x = buffer(), y = buffer(), w = buffer();
  Encoder enc = device_.encoder();
  add(enc, p, p, x);
  add(enc, p, p, y);
  add(enc, x, y, w);
  const Recording rec = enc.finish();
  EXPECT_EQ(covering(rec)[2], kNoNode);
}

// Under barriers ordering a dispatch after a barrier is covered by the barrier node, and the
// barrier has two unordered predecessors.
TEST_F(CoveringPredecessorsTest, BarriersAreNodesOfTheSearch) {
  Buffer p = buffer(), x = buffer(), y = buffer(), w = buffer();
  Encoder enc = device_.encoder({.ordering = Ordering::Barriers});
  add(enc, p, p, x);
  add(enc, p, p, y);
  enc.barrier();
  add(enc, x, y, w);
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node(2).kind, NodeKind::Barrier);
  EXPECT_EQ(covering(rec), (std::vector<std::uint32_t>{kNoNode, kNoNode, kNoNode, 2}));
}

// A node depending on the start of a long chain and on its end is covered by the end when the
// chain is short enough to search, and gets no cover (the safe answer) beyond the budget.
TEST_F(CoveringPredecessorsTest, SearchStopsAtTheBudget) {
  for (const std::uint32_t length : {100U, CoveringPredecessors::kVisitBudget + 10}) {
    Buffer p = buffer(), x = buffer(), a = buffer(), b = buffer(), w = buffer();
    Encoder enc = device_.encoder();
    add(enc, p, p, x);  // node 0
    add(enc, x, x, a);  // node 1: the chain starts after node 0
    for (std::uint32_t i = 1; i < length; ++i) {
      if (i % 2 == 1) {
        add(enc, a, a, b);
      } else {
        add(enc, b, b, a);
      }
    }
    add(enc, x, length % 2 == 1 ? a : b, w);
    const Recording rec = enc.finish();
    const std::uint32_t last = static_cast<std::uint32_t>(rec.node_count()) - 1;
    ASSERT_EQ(rec.node(last).dependencies.size(), 2U) << length;
    EXPECT_EQ(covering(rec)[last], length < CoveringPredecessors::kVisitBudget ? last - 1 : kNoNode)
        << length;
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::detail
