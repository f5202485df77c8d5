// Bad input that only the CPU backend can show: a kernel registered without a CPU
// implementation is refused by name. (Every other bad-input test runs on every backend:
// tests/backends/common/bad_input_test.cpp.)

#include <gtest/gtest.h>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {

using testing::error_from;
using testing::make_cpu_device;
using testing::mentions;

// A registered kernel without a CPU implementation is UnknownKernel on a CPU device, saying so.
TEST(BadInput, KernelWithoutACpuImplementationIsUnknownKernel) {
  auto registry = KernelRegistry::create();
  registry->add({.name = "gpu_only", .params = {Param::in("x")}});
  Device dev = make_cpu_device({}, registry);
  const Error e = error_from([&] { (void)dev.kernel("gpu_only"); });
  EXPECT_EQ(e.code(), ErrorCode::UnknownKernel) << e.what();
  EXPECT_TRUE(mentions(e.what(), "gpu_only"));
  EXPECT_TRUE(mentions(e.what(), "cpu"));
}

}  // namespace
}  // namespace encore
