// Which dispatches the CUDA backend launches programmatically (PDL edges), decided on the host
// from the command list, so it is tested without a GPU: a kernel that declares the dependency,
// after the kernel node that covers its predecessors; never after a collective (its child-graph
// node is not a kernel, and programmatic edges are kernel to kernel), never for a kernel that
// does not declare it, and never for one that reads early what an earlier dispatch writes.

#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <vector>

#include "encore/encore.h"

#include "backends/cuda/graph_builder.h"
#include "core/early_reads.h"
#include "core/predecessors.h"
#include "kernels/basic_kernels.h"
#include "runtime/collective_group.h"
#include "support/test_support.h"

namespace encore::detail {
namespace {
namespace ENCORE_TEST_FILE {

void leave_as_is(const CpuKernelContext& /*ctx*/) {}

std::shared_ptr<KernelRegistry> registry_with_pdl_kernels() {
  auto r = KernelRegistry::create();
  kernels::register_basic_kernels(*r);
  register_collective_kernels(*r);
  r->add({.name = "touch_pdl",
          .params = {Param::inout("x")},
          .cpu = leave_as_is,
          .programmatic_dependency = true});
  r->add({.name = "touch", .params = {Param::inout("x")}, .cpu = leave_as_is});
  r->add({.name = "scale_pdl",
          .params = {Param::in_before_wait("w"), Param::inout("x")},
          .cpu = leave_as_is,
          .programmatic_dependency = true});
  return r;
}

TEST(ProgrammaticEdges, AreKernelToKernelAndNeverAfterACollective) {
  const std::shared_ptr<KernelRegistry> registry = registry_with_pdl_kernels();
  std::vector<Device> devices = {testing::make_cpu_device({}, registry),
                                 testing::make_cpu_device({}, registry)};
  std::vector<Communicator> comms = Communicator::create(devices);
  Buffer x = devices[0].alloc(64);
  const Kernel pdl = devices[0].kernel("touch_pdl");
  const Kernel plain = devices[0].kernel("touch");
  const Launch one = Launch::groups(1, 32);
  Encoder enc = devices[0].encoder();
  enc.dispatch(plain, one, {inout(x)});  // 0
  enc.dispatch(pdl, one, {inout(x)});    // 1: after kernel 0
  all_reduce(enc, comms[0], x);          // 2: the collective
  enc.dispatch(pdl, one, {inout(x)});    // 3: after the collective
  enc.dispatch(plain, one, {inout(x)});  // 4: does not declare the dependency
  enc.dispatch(pdl, one, {inout(x)});    // 5: after kernel 4
  const Recording rec = enc.finish();
  const CommandList& list = rec.commands();
  ASSERT_EQ(list.nodes.size(), 6U);
  ASSERT_TRUE(is_collective(list.nodes[2]));
  const Predecessors preds = predecessors_of(list);
  CoveringPredecessors cover(preds);
  const std::vector<std::uint8_t> hazards = early_read_hazards(list);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 1), 0U);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 2), kNoNode);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 3), kNoNode);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 4), kNoNode);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 5), 4U);
}

// A kernel reads its read_before_wait buffers (weights) while earlier kernels may still run, so
// a dispatch whose such buffer overlaps bytes that any earlier dispatch of the list writes (not
// only its covering predecessor) is launched after everything before it; bytes of the same
// allocation that nothing wrote, or that are only read, leave it programmatic.
TEST(ProgrammaticEdges, NoneForAnEarlyReadOfMemoryAnEarlierDispatchWrites) {
  const std::shared_ptr<KernelRegistry> registry = registry_with_pdl_kernels();
  Device dev = testing::make_cpu_device({}, registry);
  Buffer w = dev.alloc(256);
  Buffer x = dev.alloc(64);
  const Kernel scale = dev.kernel("scale_pdl");
  const Kernel pdl = dev.kernel("touch_pdl");
  const Launch one = Launch::groups(1, 32);
  Encoder enc = dev.encoder();
  enc.dispatch(pdl, one, {inout(w.view(0, 128))});             // 0: writes the first half of w
  enc.dispatch(pdl, one, {inout(x)});                          // 1
  enc.dispatch(scale, one, {in(w.view(128, 128)), inout(x)});  // 2: unwritten half: early
  enc.dispatch(scale, one, {in(w.view(64, 128)), inout(x)});   // 3: overlaps node 0's write
  enc.dispatch(scale, one, {in(x), inout(w.view(128, 64))});   // 4: reads x early, x written
  enc.dispatch(scale, one, {in(w.view(192, 64)), inout(x)});   // 5: past node 4's write
  const Recording rec = enc.finish();
  const CommandList& list = rec.commands();
  const std::vector<std::uint8_t> hazards = early_read_hazards(list);
  EXPECT_EQ(hazards, (std::vector<std::uint8_t>{0, 0, 0, 1, 1, 0}));
  const Predecessors preds = predecessors_of(list);
  CoveringPredecessors cover(preds);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 2), 1U);
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 3), kNoNode);  // node 0 is 3 back
  EXPECT_EQ(programmatic_predecessor(list, cover, hazards, 4), kNoNode);
  EXPECT_NE(programmatic_predecessor(list, cover, hazards, 5), kNoNode);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::detail
