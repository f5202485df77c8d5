// softmax and argmax on the CPU backend: softmax against a double reference (large logits
// included), argmax over one- and two-stage sizes with ties (lowest index wins), NaN and -inf.

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "support/op_test_support.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::all_near;
using testing::error_from;
using testing::mentions;
using testing::upload;

class SoftmaxArgmaxOps : public ::testing::Test {
 protected:
  std::uint32_t argmax(const std::vector<float>& x) {
    const auto n = static_cast<std::uint32_t>(x.size());
    Buffer xb = upload(dev_, x);
    Buffer token = upload(dev_, std::vector<std::uint32_t>{12345});
    Buffer scratch = dev_.alloc(ops::argmax_scratch_bytes(n));
    Encoder enc = dev_.encoder();
    ops_.argmax(enc, xb, token, scratch, n, "argmax");
    enc.commit_and_wait();
    return token.download<std::uint32_t>()[0];
  }

  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// Rows of several lengths, including logits around 80 where a naive exp overflows.
TEST_F(SoftmaxArgmaxOps, SoftmaxMatchesTheScalarReference) {
  for (const auto& [rows, n] : {std::pair{1U, 1U}, {3U, 5U}, {2U, 1000U}, {1U, 151936U}}) {
    SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(n));
    const std::vector<float> x = testing::random_floats(std::size_t{rows} * n, n, -10.0F, 90.0F);
    std::vector<float> want(x.size());
    for (std::uint32_t r = 0; r < rows; ++r) {
      double m = -1e300;
      for (std::uint32_t i = 0; i < n; ++i) m = std::max(m, double{x[r * n + i]});
      double sum = 0;
      for (std::uint32_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - m);
      for (std::uint32_t i = 0; i < n; ++i) {
        want[r * n + i] = static_cast<float>(std::exp(x[r * n + i] - m) / sum);
      }
    }
    Buffer xb = upload(dev_, x);
    Buffer yb = dev_.alloc(x.size() * 4);
    Encoder enc = dev_.encoder();
    ops_.softmax(enc, xb, yb, rows, n, "probs");
    enc.commit_and_wait();
    EXPECT_TRUE(all_near(yb.download<float>(), want, {1e-9, 1e-5}));
  }
}

// The largest value wins wherever it is, on the one-block and the two-stage paths.
TEST_F(SoftmaxArgmaxOps, ArgmaxFindsTheLargestValue) {
  for (const std::uint32_t n : {1U, 5U, 8192U, 8193U, 128256U, 151936U}) {
    for (const std::uint32_t at : {0U, n / 3, n - 1}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", max at " + std::to_string(at));
      std::vector<float> x = testing::random_floats(n, n + at, -5.0F, 5.0F);
      x[at] = 7.0F;
      EXPECT_EQ(argmax(x), at);
    }
  }
}

// Ties go to the lowest index, also when the tied values lie in different blocks.
TEST_F(SoftmaxArgmaxOps, ArgmaxTiesGoToTheLowestIndex) {
  for (const std::uint32_t n : {100U, 128256U}) {
    std::vector<float> x(n, 1.0F);
    EXPECT_EQ(argmax(x), 0U) << "all equal, n " << n;
    x[n - 1] = 3.0F;
    x[n / 2] = 3.0F;
    x[n / 7] = 3.0F;
    EXPECT_EQ(argmax(x), n / 7) << "n " << n;
  }
}

// NaN is never picked; all -inf gives 0, all NaN gives 0.
TEST_F(SoftmaxArgmaxOps, ArgmaxIgnoresNanAndHandlesInfinities) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::uint32_t n : {10U, 20000U}) {
    std::vector<float> x(n, -inf);
    EXPECT_EQ(argmax(x), 0U);
    x[n - 2] = -1.0F;
    x[1] = nan;
    EXPECT_EQ(argmax(x), n - 2);
    x[3] = inf;
    EXPECT_EQ(argmax(x), 3U);
    EXPECT_EQ(argmax(std::vector<float>(n, nan)), 0U);
  }
}

// Two dispatches above 8192 logits, one below; too little scratch or no logits is refused.
TEST_F(SoftmaxArgmaxOps, ArgmaxShapesAndRefusals) {
  EXPECT_GE(ops::argmax_scratch_bytes(1), 8U);
  EXPECT_GT(ops::argmax_scratch_bytes(151936), ops::argmax_scratch_bytes(8192));
  Buffer x = dev_.alloc(10000 * 4);
  Buffer token = dev_.alloc(4);
  Buffer scratch = dev_.alloc(ops::argmax_scratch_bytes(10000));
  Encoder enc = dev_.encoder();
  ops_.argmax(enc, x, token, scratch, 10000);
  EXPECT_EQ(enc.dispatch_count(), 2U);
  ops_.argmax(enc, x.view(0, 8192 * 4), token, scratch, 8192);
  EXPECT_EQ(enc.dispatch_count(), 3U);
  Error e = error_from([&] { ops_.argmax(enc, x, token, token, 10000, "lm_argmax"); });
  EXPECT_TRUE(mentions(e.what(), "argmax 'lm_argmax'"));
  EXPECT_TRUE(mentions(e.what(), "scratch holds 4 bytes"));
  e = error_from([&] { ops_.argmax(enc, x.view(0, 0), token, scratch, 0); });
  EXPECT_TRUE(mentions(e.what(), "at least 1"));
  e = error_from([&] { ops_.softmax(enc, x, x, 3, 1000); });
  EXPECT_TRUE(mentions(e.what(), "softmax"));
  EXPECT_TRUE(mentions(e.what(), "x holds 10000 elements, expected 3000"));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
