// add, mul and silu_mul on the CPU backend against a scalar reference, on sizes around the block
// size, and refusals of mismatched operands.

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "support/op_test_support.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::all_identical;
using testing::all_near;
using testing::error_from;
using testing::mentions;
using testing::random_floats;
using testing::upload;

constexpr std::uint32_t kSizes[] = {1, 255, 256, 257, 4864};

class ElementwiseOps : public ::testing::Test {
 protected:
  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// add and mul are exact; silu_mul matches g / (1 + e^-g) * u.
TEST_F(ElementwiseOps, AddMulAndSiluMulMatchTheScalarReference) {
  for (const std::uint32_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<float> a = random_floats(n, n, -8.0F, 8.0F);
    const std::vector<float> b = random_floats(n, n + 1, -2.0F, 2.0F);
    std::vector<float> sum(n);
    std::vector<float> product(n);
    std::vector<float> silu(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      sum[i] = a[i] + b[i];
      product[i] = a[i] * b[i];
      silu[i] = static_cast<float>(a[i] / (1.0 + std::exp(-double{a[i]})) * b[i]);
    }
    Buffer ab = upload(dev_, a);
    Buffer bb = upload(dev_, b);
    Buffer c1 = dev_.alloc(n * 4);
    Buffer c2 = dev_.alloc(n * 4);
    Buffer c3 = dev_.alloc(n * 4);
    Encoder enc = dev_.encoder();
    ops_.add(enc, ab, bb, c1);
    ops_.mul(enc, ab, bb, c2);
    ops_.silu_mul(enc, ab, bb, c3, "ffn");
    const Recording rec = enc.finish();
    EXPECT_EQ(rec.node(2).op, OpKind::SiluMul);
    dev_.submit(rec).wait();
    EXPECT_TRUE(all_identical(c1.download<float>(), sum));
    EXPECT_TRUE(all_identical(c2.download<float>(), product));
    EXPECT_TRUE(all_near(c3.download<float>(), silu, {1e-6, 1e-6}));
  }
}

// Operands of different sizes are refused, naming the op, the label and the operand.
TEST_F(ElementwiseOps, MismatchedOperandsAreRefused) {
  Buffer a = dev_.alloc(64 * 4);
  Buffer b = dev_.alloc(32 * 4);
  Buffer odd = dev_.alloc(6);
  Encoder enc = dev_.encoder();
  Error e = error_from([&] { ops_.silu_mul(enc, a, b, a, "blk.2.ffn"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "silu_mul 'blk.2.ffn'"));
  EXPECT_TRUE(mentions(e.what(), "up holds 32"));
  e = error_from([&] { ops_.add(enc, a, a, odd); });
  EXPECT_TRUE(mentions(e.what(), "add"));
  EXPECT_TRUE(mentions(e.what(), "4-byte"));
  e = error_from([&] { ops_.mul(enc, b, a, a); });
  EXPECT_TRUE(mentions(e.what(), "mul: a holds 32"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
