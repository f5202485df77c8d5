// Encoder::keep_hot: a residency hint that never changes results, is validated like any binding,
// and shows in the recording's dump. (The CUDA window itself is tested in tests/backends/cuda.)

#include <gtest/gtest.h>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::AddProgram;
using testing::dispatch_add;
using testing::error_from;
using testing::kAddSum;
using testing::make_add_program;
using testing::make_cpu_device;
using testing::mentions;

// On the CPU backend a hot view is recorded and shown, and the results are unchanged.
TEST(KeepHot, IsRecordedAndLeavesResultsUnchanged) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  enc.keep_hot(p.a.view(0, 8));
  dispatch_add(enc, p);
  const Recording rec = enc.finish();
  EXPECT_TRUE(mentions(rec.to_string(), "keep hot buf#" + std::to_string(p.a.id())));
  EXPECT_TRUE(mentions(rec.to_string(), "[0, 8)"));
  dev.submit(rec).wait();
  EXPECT_EQ(p.c.download<float>(), kAddSum);
}

// A null view and another device's buffer are refused with the usual codes.
TEST(KeepHot, RefusesNullViewsAndOtherDevicesBuffers) {
  Device dev = make_cpu_device();
  Device other = make_cpu_device();
  Encoder enc = dev.encoder();
  EXPECT_EQ(error_from([&] { enc.keep_hot(BufferView()); }).code(), ErrorCode::InvalidArgument);
  const Error e = error_from([&] { enc.keep_hot(other.alloc(16, "theirs")); });
  EXPECT_EQ(e.code(), ErrorCode::WrongDevice);
  EXPECT_TRUE(mentions(e.what(), "theirs"));
}

// Like every call that records, keep_hot needs an open encoder.
TEST(KeepHot, AfterCommitIsInvalidState) {
  Device dev = make_cpu_device();
  AddProgram p = make_add_program(dev);
  Encoder enc = dev.encoder();
  dispatch_add(enc, p);
  enc.commit_and_wait();
  EXPECT_EQ(error_from([&] { enc.keep_hot(p.a); }).code(), ErrorCode::InvalidState);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
