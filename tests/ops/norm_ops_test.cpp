// The RMS-norm family on the CPU backend against a scalar reference written here: several row
// lengths (1, below, at and past a block's worth, odd), several rows, in-place use, the exact
// equivalences the fusion pass relies on, and refusals that name the op and the label.

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

constexpr float kEps = 1e-5F;
constexpr testing::Tolerance kTol{1e-6, 2e-6};

// y = x / sqrt(mean(x^2) + eps) (* w), per row of n, in double.
std::vector<float> reference_norm(const std::vector<float>& x, const std::vector<float>* w,
                                  std::uint32_t n, float eps) {
  std::vector<float> y(x.size());
  for (std::size_t row = 0; row * n < x.size(); ++row) {
    double squares = 0;
    for (std::uint32_t i = 0; i < n; ++i) squares += double{x[row * n + i]} * x[row * n + i];
    const double scale = 1.0 / std::sqrt(squares / n + eps);
    for (std::uint32_t i = 0; i < n; ++i) {
      double v = x[row * n + i] * scale;
      if (w != nullptr) v *= (*w)[row * n + i];
      y[row * n + i] = static_cast<float>(v);
    }
  }
  return y;
}

std::vector<float> elementwise_sum(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> s(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
  return s;
}

struct Shape {
  std::uint32_t n;
  std::uint32_t rows;
};
constexpr Shape kShapes[] = {{1, 1}, {31, 2}, {896, 1}, {2048, 3}, {3001, 1}, {8192, 1}};

class NormOps : public ::testing::Test {
 protected:
  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// rms_norm matches the scalar reference on every shape.
TEST_F(NormOps, RmsNormMatchesTheScalarReference) {
  for (const Shape s : kShapes) {
    SCOPED_TRACE("n = " + std::to_string(s.n) + ", rows = " + std::to_string(s.rows));
    const std::vector<float> x = random_floats(std::size_t{s.n} * s.rows, s.n, -3.0F, 3.0F);
    Buffer xb = upload(dev_, x);
    Buffer yb = dev_.alloc(x.size() * 4);
    Encoder enc = dev_.encoder();
    ops_.rms_norm(enc, xb, yb, s.n, kEps, "norm");
    enc.commit_and_wait();
    EXPECT_TRUE(all_near(yb.download<float>(), reference_norm(x, nullptr, s.n, kEps), kTol));
  }
}

// rms_norm_mul multiplies by a weight of x's size.
TEST_F(NormOps, RmsNormMulMatchesTheScalarReference) {
  for (const Shape s : kShapes) {
    SCOPED_TRACE("n = " + std::to_string(s.n) + ", rows = " + std::to_string(s.rows));
    const std::size_t count = std::size_t{s.n} * s.rows;
    const std::vector<float> x = random_floats(count, s.n + 1);
    const std::vector<float> w = random_floats(count, s.n + 2, 0.5F, 1.5F);
    Buffer xb = upload(dev_, x);
    Buffer wb = upload(dev_, w);
    Buffer yb = dev_.alloc(count * 4);
    Encoder enc = dev_.encoder();
    ops_.rms_norm_mul(enc, xb, wb, yb, s.n, kEps);
    enc.commit_and_wait();
    EXPECT_TRUE(all_near(yb.download<float>(), reference_norm(x, &w, s.n, kEps), kTol));
  }
}

// add_rms_norm writes the sum and its norm; add_rms_norm_mul also applies the weight.
TEST_F(NormOps, AddRmsNormVariantsWriteTheSumAndItsNorm) {
  for (const Shape s : kShapes) {
    SCOPED_TRACE("n = " + std::to_string(s.n) + ", rows = " + std::to_string(s.rows));
    const std::size_t count = std::size_t{s.n} * s.rows;
    const std::vector<float> a = random_floats(count, s.n + 3, -2.0F, 2.0F);
    const std::vector<float> b = random_floats(count, s.n + 4, -2.0F, 2.0F);
    const std::vector<float> w = random_floats(count, s.n + 5, 0.5F, 1.5F);
    const std::vector<float> sum = elementwise_sum(a, b);
    Buffer ab = upload(dev_, a);
    Buffer bb = upload(dev_, b);
    Buffer wb = upload(dev_, w);
    Buffer sum1 = dev_.alloc(count * 4);
    Buffer y1 = dev_.alloc(count * 4);
    Buffer sum2 = dev_.alloc(count * 4);
    Buffer y2 = dev_.alloc(count * 4);
    Encoder enc = dev_.encoder();
    ops_.add_rms_norm(enc, ab, bb, sum1, y1, s.n, kEps);
    ops_.add_rms_norm_mul(enc, ab, bb, wb, sum2, y2, s.n, kEps);
    enc.commit_and_wait();
    EXPECT_TRUE(all_identical(sum1.download<float>(), sum));
    EXPECT_TRUE(all_identical(sum2.download<float>(), sum));
    EXPECT_TRUE(all_near(y1.download<float>(), reference_norm(sum, nullptr, s.n, kEps), kTol));
    EXPECT_TRUE(all_near(y2.download<float>(), reference_norm(sum, &w, s.n, kEps), kTol));
  }
}

// The residual pattern: sum written over a, and rms_norm with y over x, give the same values.
TEST_F(NormOps, NormsMayWriteOverTheirInputs) {
  const std::uint32_t n = 2048;
  const std::vector<float> a = random_floats(n, 11);
  const std::vector<float> b = random_floats(n, 12);
  const std::vector<float> sum = elementwise_sum(a, b);
  Buffer ab = upload(dev_, a);
  Buffer bb = upload(dev_, b);
  Buffer yb = dev_.alloc(n * 4);
  Encoder enc = dev_.encoder();
  ops_.add_rms_norm(enc, ab, bb, ab, yb, n, kEps);
  enc.commit_and_wait();
  EXPECT_TRUE(all_identical(ab.download<float>(), sum));
  EXPECT_TRUE(all_near(yb.download<float>(), reference_norm(sum, nullptr, n, kEps), kTol));

  Encoder again = dev_.encoder();
  ops_.rms_norm(again, ab, ab, n, kEps);
  again.commit_and_wait();
  EXPECT_TRUE(all_near(ab.download<float>(), reference_norm(sum, nullptr, n, kEps), kTol));
}

// The fusion pass's rewrites are exact: rms_norm then mul equals rms_norm_mul, and add then
// rms_norm equals add_rms_norm, bit for bit.
TEST_F(NormOps, FusedNormsEqualTheirUnfusedSequencesExactly) {
  const std::uint32_t n = 896;
  const std::uint32_t rows = 2;
  const std::vector<float> a = random_floats(n * rows, 21);
  const std::vector<float> b = random_floats(n * rows, 22);
  const std::vector<float> w = random_floats(n * rows, 23);
  Buffer ab = upload(dev_, a);
  Buffer bb = upload(dev_, b);
  Buffer wb = upload(dev_, w);
  std::vector<Buffer> t;
  for (int i = 0; i < 8; ++i) t.push_back(dev_.alloc(n * rows * 4));
  Encoder enc = dev_.encoder();
  ops_.rms_norm(enc, ab, t[0], n, kEps);
  ops_.mul(enc, t[0], wb, t[1]);
  ops_.rms_norm_mul(enc, ab, wb, t[2], n, kEps);
  ops_.add(enc, ab, bb, t[3]);
  ops_.rms_norm(enc, t[3], t[4], n, kEps);
  ops_.add_rms_norm(enc, ab, bb, t[5], t[6], n, kEps);
  enc.commit_and_wait();
  EXPECT_TRUE(all_identical(t[1].download<float>(), t[2].download<float>()));
  EXPECT_TRUE(all_identical(t[3].download<float>(), t[5].download<float>()));
  EXPECT_TRUE(all_identical(t[4].download<float>(), t[6].download<float>()));
}

// Dispatches carry the op kinds the passes match on, and the label.
TEST_F(NormOps, DispatchesCarryTheirOpKinds) {
  Buffer x = dev_.alloc(64 * 4);
  Buffer y = dev_.alloc(64 * 4);
  Buffer s = dev_.alloc(64 * 4);
  Encoder enc = dev_.encoder();
  ops_.rms_norm(enc, x, y, 64, kEps, "blk.0.attn_norm");
  ops_.rms_norm_mul(enc, x, x, y, 64, kEps);
  ops_.add_rms_norm(enc, x, x, s, y, 64, kEps);
  ops_.add_rms_norm_mul(enc, x, x, x, s, y, 64, kEps);
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.dispatch_count(), 4U);
  EXPECT_EQ(rec.node(0).op, OpKind::RmsNorm);
  EXPECT_EQ(rec.node(0).label, "blk.0.attn_norm");
  EXPECT_EQ(rec.node(1).op, OpKind::RmsNormMul);
  EXPECT_EQ(rec.node(2).op, OpKind::AddRmsNorm);
  EXPECT_EQ(rec.node(3).op, OpKind::AddRmsNorm);
}

// Bad shapes are refused before anything is recorded, naming the op, the label and the reason.
TEST_F(NormOps, BadShapesAreRefusedWithTheOpAndLabel) {
  Buffer x = dev_.alloc(100 * 4);
  Buffer y = dev_.alloc(100 * 4);
  Buffer small = dev_.alloc(50 * 4);
  Encoder enc = dev_.encoder();
  const auto expect_refusal = [&](auto&& f, std::string_view part) {
    const Error e = error_from(f);
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(mentions(e.what(), part));
    EXPECT_TRUE(mentions(e.what(), "'blk.1'"));
  };
  expect_refusal([&] { ops_.rms_norm(enc, x, y, 0, kEps, "blk.1"); }, "rms_norm");
  expect_refusal([&] { ops_.rms_norm(enc, x, y, 64, kEps, "blk.1"); }, "multiple of n = 64");
  expect_refusal([&] { ops_.rms_norm(enc, x, small, 100, kEps, "blk.1"); }, "y holds 50");
  expect_refusal([&] { ops_.rms_norm(enc, x, y, 100, -1.0F, "blk.1"); }, "eps");
  expect_refusal([&] { ops_.rms_norm_mul(enc, x, small, y, 100, kEps, "blk.1"); }, "w holds 50");
  expect_refusal([&] { ops_.add_rms_norm(enc, x, small, x, y, 100, kEps, "blk.1"); },
                 "add_rms_norm");
  expect_refusal([&] { ops_.add_rms_norm_mul(enc, x, x, x, small, y, 100, kEps, "blk.1"); },
                 "sum holds 50");
  EXPECT_EQ(enc.dispatch_count(), 0U);
  EXPECT_FALSE(ops::can_rms_norm(0));
  EXPECT_TRUE(mentions(ops::can_rms_norm(0).reason, "at least 1"));
  EXPECT_TRUE(ops::can_rms_norm(1));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
