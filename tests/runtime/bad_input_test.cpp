// Bad input that only the CPU backend can show: a kernel registered without a CPU
// implementation is refused by name; and the registry's own refusals. (Every other bad-input test
// runs on every backend: tests/backends/common/bad_input_test.cpp.)

#include <gtest/gtest.h>
#include <tuple>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

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

// A read_before_wait param must be a buffer the kernel reads (in, or inout: written after the
// wait) of a kernel that declares a programmatic dependency (the only kind launched before its
// predecessors complete): the registry refuses any other, naming the kernel and the param.
TEST(BadInput, ReadBeforeWaitOnlyForBuffersAProgrammaticKernelReads) {
  auto registry = KernelRegistry::create();
  Param updated = Param::inout("cache");  // read before the wait, written after it
  updated.read_before_wait = true;
  Param written = Param::in_before_wait("w");
  written.access = Access::Out;
  Param value = Param::value<float>("v");
  value.read_before_wait = true;
  for (const auto& [name, param, programmatic] :
       {std::tuple{"written_early", written, true}, std::tuple{"value_early", value, true},
        std::tuple{"not_programmatic", Param::in_before_wait("w"), false},
        std::tuple{"updated_not_programmatic", updated, false}}) {
    const Error e = error_from([&] {
      registry->add({.name = name, .params = {param}, .programmatic_dependency = programmatic});
    });
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    EXPECT_TRUE(mentions(e.what(), name));
    EXPECT_TRUE(mentions(e.what(), "param 0"));
    EXPECT_TRUE(mentions(e.what(), "before the wait"));
  }
  registry->add({.name = "weights_early",
                 .params = {Param::in_before_wait("w"), Param::out("y")},
                 .programmatic_dependency = true});
  registry->add({.name = "cache_early",
                 .params = {updated, Param::out("y")},
                 .programmatic_dependency = true});
  EXPECT_NE(registry->find("weights_early"), nullptr);
  EXPECT_NE(registry->find("cache_early"), nullptr);
  EXPECT_EQ(registry->find("written_early"), nullptr);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
