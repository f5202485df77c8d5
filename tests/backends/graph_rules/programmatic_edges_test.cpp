// Which dispatches the CUDA backend launches programmatically (PDL edges), decided on the host
// from the command list, so it is tested without a GPU: a kernel that declares the dependency,
// after the kernel node that covers its predecessors; never after a collective (its child-graph
// node is not a kernel, and programmatic edges are kernel to kernel), and never for a kernel
// that does not declare it.

#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <vector>

#include "encore/encore.h"

#include "backends/cuda/graph_builder.h"
#include "core/predecessors.h"
#include "kernels/basic_kernels.h"
#include "runtime/collective_group.h"
#include "support/test_support.h"

namespace encore::detail {
namespace {

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
  EXPECT_EQ(programmatic_predecessor(list, cover, 1), 0U);
  EXPECT_EQ(programmatic_predecessor(list, cover, 2), kNoNode);
  EXPECT_EQ(programmatic_predecessor(list, cover, 3), kNoNode);
  EXPECT_EQ(programmatic_predecessor(list, cover, 4), kNoNode);
  EXPECT_EQ(programmatic_predecessor(list, cover, 5), 4U);
}

}  // namespace
}  // namespace encore::detail
