// The invariant checker run after every pass accepts what the encoder builds in every ordering
// mode, and rejects, with Error(Internal) naming the pass and the nodes, each kind of broken
// list: a hazard nothing orders, a dependency on a later node, a wrong barrier_before, a view
// outside its allocation and an arg of the wrong kind. (Lists are broken by hand through the
// internal command list, since no pass is meant to produce them.)

#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <string>

#include "encore/encore.h"

#include "core/command_list.h"
#include "ir/passes/pass_test_helpers.h"
#include "ir/passes/passes.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using detail::check_invariants;
using detail::CommandList;
using testing::error_from;
using testing::make_cpu_device;
using testing::mentions;

constexpr std::uint32_t kN = 4;

// fill a; copy a -> b; copy b -> c (a chain of RAWs), as a copy of the command list.
struct Chain {
  Device dev = make_cpu_device();
  Buffer a = dev.alloc(kN * 4, "a"), b = dev.alloc(kN * 4, "b"), c = dev.alloc(kN * 4, "c");

  // `barriers`: 1 puts a barrier before ab, 2 also before bc.
  CommandList list(Ordering ordering, int barriers = 0) {
    Encoder enc = dev.encoder({.ordering = ordering});
    enc.dispatch(dev.kernel("fill_f32"), Launch::threads(kN, 64), {out(a), value(1.0F), value(kN)},
                 {.label = "fill"});
    if (barriers >= 1) enc.barrier();
    enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kN, 64), {in(a), out(b), value(kN)},
                 {.label = "ab"});
    if (barriers >= 2) enc.barrier();
    enc.dispatch(dev.kernel("copy_f32"), Launch::threads(kN, 64), {in(b), out(c), value(kN)},
                 {.label = "bc"});
    return enc.finish().commands();
  }
};

Error broken(const CommandList& list) {
  return error_from([&] { check_invariants(list, Pass::Reorder); });
}

// Every ordering mode the encoder produces passes the checker.
TEST(InvariantChecker, AcceptsWhatTheEncoderBuilds) {
  for (const Ordering ordering :
       {Ordering::Serial, Ordering::Barriers, Ordering::AutoBarrier, Ordering::AutoDag}) {
    Chain f;
    for (int barriers : {0, 1, 2}) {
      if (ordering == Ordering::Barriers && barriers < 2) continue;  // racy without both
      EXPECT_NO_THROW(check_invariants(f.list(ordering, barriers), Pass::Fuse))
          << to_string(ordering) << " with " << barriers << " barriers";
    }
  }
}

// Dropping the edge ab -> bc leaves a RAW unordered.
TEST(InvariantChecker, RejectsAHazardNothingOrders) {
  Chain f;
  CommandList list = f.list(Ordering::AutoDag);
  list.nodes[2].deps_count = 0;
  const Error e = broken(list);
  EXPECT_EQ(e.code(), ErrorCode::Internal);
  EXPECT_TRUE(mentions(e.what(), "the reorder pass broke an invariant")) << e.what();
  EXPECT_TRUE(mentions(e.what(), "dispatch #1 'ab' (kernel copy_f32) and dispatch #2 'bc'"))
      << e.what();
  EXPECT_TRUE(mentions(e.what(), "RAW on buf#" + std::to_string(f.b.id()))) << e.what();
}

// Barriers mode with a barrier missing: the last group is racy.
TEST(InvariantChecker, RejectsABarriersListMissingABarrier) {
  Chain f;
  EXPECT_TRUE(mentions(broken(f.list(Ordering::Barriers, 1)).what(), "nothing orders them"));
}

// A dependency on a later node would be a cycle in execution order.
TEST(InvariantChecker, RejectsADependencyOnALaterNode) {
  Chain f;
  CommandList list = f.list(Ordering::AutoDag);
  list.deps[list.nodes[1].deps_begin].node = 2;
  EXPECT_TRUE(mentions(broken(list).what(), "depends on node 2, which is not an earlier dispatch"));
}

// barrier_before must name the barrier that precedes the node.
TEST(InvariantChecker, RejectsAWrongBarrierBefore) {
  Chain f;
  CommandList list = f.list(Ordering::AutoDag, 1);
  list.nodes[3].barrier_before = detail::kNoNode;
  EXPECT_TRUE(mentions(broken(list).what(), "names barrier_before")) << broken(list).what();
}

// Views stay inside their allocation; args match their params.
TEST(InvariantChecker, RejectsInconsistentArgs) {
  Chain f;
  CommandList outside = f.list(Ordering::AutoDag);
  outside.args[outside.nodes[1].args_begin].offset = 8;
  EXPECT_TRUE(mentions(broken(outside).what(), "arg 0 of dispatch #1 'ab'"));
  EXPECT_TRUE(mentions(broken(outside).what(), "outside its allocation"));
  CommandList kind = f.list(Ordering::AutoDag);
  kind.args[kind.nodes[1].args_begin + 2].kind = Arg::Kind::Buffer;
  EXPECT_TRUE(mentions(broken(kind).what(), "arg 2 of dispatch #1 'ab'"));
  CommandList access = f.list(Ordering::AutoDag);
  access.args[access.nodes[1].args_begin + 1].access = Access::In;
  EXPECT_TRUE(mentions(broken(access).what(), "declares less access than its param"));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
