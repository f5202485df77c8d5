// bf16 gemv on the CPU backend against a scalar reference: every variant of the selection table
// (with partial last blocks), with and without a bias, the table itself on the issue's shapes,
// and refusals of shapes and views the kernels cannot take.

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <vector>

#include "encore/encore.h"
#include "encore/ops.h"

#include "support/op_test_support.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::error_from;
using testing::mentions;
using testing::upload;

// y[r] = sum_c bf16(w[r, c]) x[c] (+ bias[r]) in double, and sum_c |w x| for the tolerance.
struct Reference {
  std::vector<double> y;
  std::vector<double> magnitude;
};

Reference reference_gemv(const std::vector<std::uint16_t>& w, const std::vector<float>& x,
                         const std::vector<float>* bias, std::uint32_t rows, std::uint32_t cols) {
  Reference ref{std::vector<double>(rows), std::vector<double>(rows)};
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint32_t c = 0; c < cols; ++c) {
      const double term = double{testing::bf16_value(w[std::size_t{r} * cols + c])} * x[c];
      ref.y[r] += term;
      ref.magnitude[r] += std::fabs(term);
    }
    if (bias != nullptr) {
      ref.y[r] += (*bias)[r];
      ref.magnitude[r] += std::fabs((*bias)[r]);
    }
  }
  return ref;
}

// Success when |y - ref| <= rel * sum|w x| + 1e-7 for every row.
::testing::AssertionResult rows_near(const std::vector<float>& y, const Reference& ref,
                                     double rel) {
  for (std::size_t r = 0; r < y.size(); ++r) {
    const double limit = rel * ref.magnitude[r] + 1e-7;
    if (!(std::fabs(y[r] - ref.y[r]) <= limit)) {
      return ::testing::AssertionFailure() << "row " << r << ": got " << y[r] << ", want "
                                           << ref.y[r] << " (limit " << limit << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

class GemvOps : public ::testing::Test {
 protected:
  // Runs gemv on random data and compares with the reference.
  void check(std::uint32_t rows, std::uint32_t cols, bool with_bias) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + (with_bias ? " + bias" : "") +
                 " via " + ops::gemv_kernel_for(rows, cols, with_bias));
    const std::vector<std::uint16_t> w = testing::random_bf16(std::size_t{rows} * cols, rows);
    const std::vector<float> x = testing::random_floats(cols, cols);
    const std::vector<float> bias = testing::random_floats(rows, rows + 1);
    Buffer wb = upload(dev_, w);
    Buffer xb = upload(dev_, x);
    Buffer bb = upload(dev_, bias);
    Buffer yb = upload(dev_, std::vector<float>(rows, -1.0F));
    Encoder enc = dev_.encoder();
    ops_.gemv(enc, wb, xb, yb, rows, cols, with_bias ? std::optional<BufferView>(bb) : std::nullopt,
              "proj");
    const Recording rec = enc.finish();
    EXPECT_EQ(rec.node(0).op, OpKind::Gemv);
    EXPECT_EQ(rec.node(0).kernel, ops::gemv_kernel_for(rows, cols, with_bias));
    dev_.submit(rec).wait();
    EXPECT_TRUE(rows_near(yb.download<float>(),
                          reference_gemv(w, x, with_bias ? &bias : nullptr, rows, cols), 1e-6));
  }

  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// Small and odd shapes, one row, one 16-byte vector per row.
TEST_F(GemvOps, SmallShapesMatchTheScalarReference) {
  for (const auto& [rows, cols] : {std::pair{1U, 8U}, {7U, 64U}, {33U, 896U}, {128U, 896U}}) {
    check(rows, cols, false);
    check(rows, cols, true);
  }
}

// One shape per row of the variant table, each with a partial last block.
TEST_F(GemvOps, EveryVariantMatchesTheScalarReference) {
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> shapes = {
      {1027, 16}, {515, 1032}, {259, 2056}, {101, 4096}, {3, 12296}};
  std::vector<std::string> seen;
  for (const auto& [rows, cols] : shapes) {
    check(rows, cols, false);
    check(rows, cols, true);
    seen.push_back(ops::gemv_kernel_for(rows, cols));
  }
  std::vector<std::string> table;
  for (const ops::KernelVariant& v : ops::gemv_variant_table()) table.push_back(v.kernel);
  EXPECT_EQ(seen, table);
}

// The decode steps' shapes pick the variants the table documents.
TEST_F(GemvOps, TheIssuesShapesPickTheirVariants) {
  EXPECT_EQ(ops::gemv_kernel_for(16384, 2048), "gemv_bf16_r1s1");
  EXPECT_EQ(ops::gemv_kernel_for(128256, 2048), "gemv_bf16_r2s1");
  EXPECT_EQ(ops::gemv_kernel_for(151936, 896), "gemv_bf16_r2s1");
  EXPECT_EQ(ops::gemv_kernel_for(9728, 896), "gemv_bf16_r2s1");
  EXPECT_EQ(ops::gemv_kernel_for(2048, 2048), "gemv_bf16_r1s1");
  EXPECT_EQ(ops::gemv_kernel_for(3072, 2048), "gemv_bf16_r1s1");
  EXPECT_EQ(ops::gemv_kernel_for(2048, 8192), "gemv_bf16_r1s4");
  EXPECT_EQ(ops::gemv_kernel_for(512, 2048), "gemv_bf16_r1s1");
  EXPECT_EQ(ops::gemv_kernel_for(896, 4864), "gemv_bf16_r1s2");
  EXPECT_EQ(ops::gemv_kernel_for(896, 896), "gemv_bf16_r2s1");
  EXPECT_EQ(ops::gemv_kernel_for(1152, 896, true), "gemv_bias_bf16_r2s1");
  EXPECT_EQ(ops::gemv_variant_table().back().predicate, "otherwise");
}

// Shapes and views the kernels cannot take are refused before anything is recorded.
TEST_F(GemvOps, BadShapesAndViewsAreRefused) {
  Buffer w = dev_.alloc(16 * 16 * 2 + 16);
  Buffer x = dev_.alloc(16 * 4 + 16);
  Buffer y = dev_.alloc(16 * 4);
  Encoder enc = dev_.encoder();
  const BufferView w_view = w.view(0, 16 * 16 * 2);
  const BufferView x_view = x.view(0, 16 * 4);
  Error e = error_from([&] { ops_.gemv(enc, w_view, x_view, y, 16, 12, {}, "blk.0.attn_q"); });
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(mentions(e.what(), "gemv 'blk.0.attn_q'"));
  EXPECT_TRUE(mentions(e.what(), "multiple of 8"));
  e = error_from([&] { ops_.gemv(enc, w.view(2, 16 * 16 * 2), x_view, y, 16, 16); });
  EXPECT_TRUE(mentions(e.what(), "w starts at byte offset 2"));
  e = error_from([&] { ops_.gemv(enc, w_view, x.view(4, 16 * 4), y, 16, 16); });
  EXPECT_TRUE(mentions(e.what(), "x starts at byte offset 4"));
  e = error_from([&] { ops_.gemv(enc, w_view, x_view, y.view(0, 8 * 4), 16, 16); });
  EXPECT_TRUE(mentions(e.what(), "y holds 8"));
  e = error_from([&] { ops_.gemv(enc, w_view, x_view, y, 16, 16, BufferView(y.view(0, 4))); });
  EXPECT_TRUE(mentions(e.what(), "bias holds 1"));
  e = error_from([&] { ops_.gemv(enc, w_view, x_view, x_view, 16, 16); });
  EXPECT_TRUE(mentions(e.what(), "y overlaps x"));
  EXPECT_FALSE(ops::can_gemv(0, 8));
  EXPECT_TRUE(ops::can_gemv(1, 8));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
