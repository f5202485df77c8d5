// Explicit barriers against the CPU backend's shuffled schedules: in barriers mode a barrier is
// the only ordering, whatever order the executor draws among ready nodes. (Counting and recording
// barriers runs on every backend: tests/backends/common/encoder_barrier_test.cpp.)

#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::make_cpu_device;

// In barriers mode a barrier is the only ordering: whatever order the executor draws among ready
// nodes (shuffled with several seeds), dispatches separated by barriers run in program order.
TEST(EncoderBarrier, BarrierOrdersDispatchesInBarriersMode) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(seed);
    DeviceOptions options;
    options.shuffle_seed = seed;
    options.cpu_threads = 2;
    Device dev = make_cpu_device(options);
    const Kernel log_order = dev.kernel("log_order");
    Buffer log = dev.alloc(8 * sizeof(std::uint32_t), "log");
    Encoder enc = dev.encoder({.ordering = Ordering::Barriers});
    for (std::uint32_t id = 1; id <= 3; ++id) {
      if (id > 1) {
        enc.barrier();
      }
      enc.dispatch(log_order, Launch::groups(1, 1), {inout(log), value(id)});
    }
    enc.commit_and_wait();
    const std::vector<std::uint32_t> got = log.download<std::uint32_t>();
    EXPECT_EQ(got, (std::vector<std::uint32_t>{3, 1, 2, 3, 0, 0, 0, 0}));
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
