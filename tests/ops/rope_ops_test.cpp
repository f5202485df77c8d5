// rope on the CPU backend against a scalar reference: both pairings, head_dim 2 to 128, one to
// 32 heads, positions 0 to 8191, pos as a slot patched between replays, and refusals.

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

using ops::RopeStyle;
using testing::all_near;
using testing::error_from;
using testing::mentions;
using testing::random_floats;
using testing::upload;

constexpr testing::Tolerance kTol{2e-6, 2e-6};

// Hugging Face's inverse frequencies: theta^(-2j / head_dim).
std::vector<float> inverse_frequencies(std::uint32_t head_dim, double theta = 500000.0) {
  std::vector<float> f(head_dim / 2);
  for (std::uint32_t j = 0; j < head_dim / 2; ++j) {
    f[j] = static_cast<float>(1.0 / std::pow(theta, 2.0 * j / head_dim));
  }
  return f;
}

// Each head: element a(j) turns with b(j) by the f32 angle pos * inv_freq[j], where NeoX takes
// a = j, b = j + half and interleaved takes a = 2j, b = 2j + 1.
std::vector<float> reference_rope(std::vector<float> x, const std::vector<float>& inv_freq,
                                  std::uint32_t head_dim, std::uint32_t pos, RopeStyle style) {
  const std::uint32_t half = head_dim / 2;
  for (std::size_t head = 0; head * head_dim < x.size(); ++head) {
    float* h = x.data() + head * head_dim;
    for (std::uint32_t j = 0; j < half; ++j) {
      const double angle = static_cast<float>(pos) * inv_freq[j];
      const std::uint32_t a = style == RopeStyle::NeoX ? j : 2 * j;
      const std::uint32_t b = style == RopeStyle::NeoX ? j + half : 2 * j + 1;
      const double x0 = h[a];
      const double x1 = h[b];
      h[a] = static_cast<float>(x0 * std::cos(angle) - x1 * std::sin(angle));
      h[b] = static_cast<float>(x0 * std::sin(angle) + x1 * std::cos(angle));
    }
  }
  return x;
}

class RopeOps : public ::testing::Test {
 protected:
  std::vector<float> run(const std::vector<float>& x, const std::vector<float>& inv_freq,
                         std::uint32_t n_heads, std::uint32_t head_dim, std::uint32_t pos,
                         RopeStyle style) {
    Buffer xb = upload(dev_, x);
    Buffer fb = upload(dev_, inv_freq);
    Encoder enc = dev_.encoder();
    ops_.rope(enc, xb, fb, n_heads, head_dim, value(pos), style, "rope");
    enc.commit_and_wait();
    return xb.download<float>();
  }

  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// Both pairings match the reference over head sizes, head counts and positions.
TEST_F(RopeOps, BothStylesMatchTheScalarReference) {
  for (const RopeStyle style : {RopeStyle::NeoX, RopeStyle::Interleaved}) {
    for (const auto& [n_heads, head_dim] :
         {std::pair{1U, 2U}, {3U, 64U}, {32U, 64U}, {14U, 128U}}) {
      for (const std::uint32_t pos : {1U, 7U, 511U, 8191U}) {
        SCOPED_TRACE((style == RopeStyle::NeoX ? "neox" : "interleaved") + std::string(", heads ") +
                     std::to_string(n_heads) + ", head_dim " + std::to_string(head_dim) + ", pos " +
                     std::to_string(pos));
        const std::vector<float> x = random_floats(std::size_t{n_heads} * head_dim, pos);
        const std::vector<float> f = inverse_frequencies(head_dim);
        EXPECT_TRUE(all_near(run(x, f, n_heads, head_dim, pos, style),
                             reference_rope(x, f, head_dim, pos, style), kTol));
      }
    }
  }
}

// The two pairings differ: with head_dim 4, NeoX turns (x0, x2) and interleaved (x0, x1).
TEST_F(RopeOps, NeoxAndInterleavedPairDifferentElements) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> f = {1.0F, 0.0F};  // pair 1 does not turn
  const std::vector<float> neox = run(x, f, 1, 4, 1, RopeStyle::NeoX);
  const std::vector<float> inter = run(x, f, 1, 4, 1, RopeStyle::Interleaved);
  const float c = std::cos(1.0F);
  const float s = std::sin(1.0F);
  EXPECT_TRUE(all_near(neox, std::vector<float>{1 * c - 3 * s, 2, 1 * s + 3 * c, 4}, kTol));
  EXPECT_TRUE(all_near(inter, std::vector<float>{1 * c - 2 * s, 1 * s + 2 * c, 3, 4}, kTol));
}

// Position 0 leaves x unchanged.
TEST_F(RopeOps, PositionZeroIsTheIdentity) {
  const std::vector<float> x = random_floats(4 * 64, 9);
  EXPECT_EQ(run(x, inverse_frequencies(64), 4, 64, 0, RopeStyle::NeoX), x);
}

// pos bound as a slot: one recording, replayed at several positions.
TEST_F(RopeOps, PositionSlotIsPatchedBetweenReplays) {
  const std::vector<float> x = random_floats(2 * 64, 5);
  const std::vector<float> f = inverse_frequencies(64);
  Buffer xb = dev_.alloc(x.size() * 4);
  Buffer fb = upload(dev_, f);
  Encoder enc = dev_.encoder();
  ops_.rope(enc, xb, fb, 2, 64, slot<std::uint32_t>("pos", 0), RopeStyle::NeoX);
  Recording rec = enc.finish();
  EXPECT_EQ(rec.node(0).op, OpKind::Rope);
  for (const std::uint32_t pos : {3U, 100U, 4000U}) {
    xb.upload(std::span<const float>(x));
    rec.set("pos", pos);
    dev_.submit(rec).wait();
    EXPECT_TRUE(
        all_near(xb.download<float>(), reference_rope(x, f, 64, pos, RopeStyle::NeoX), kTol))
        << "pos " << pos;
  }
}

// Odd head sizes, missing heads, mis-sized views and a non-u32 position are refused.
TEST_F(RopeOps, BadShapesAreRefused) {
  Buffer x = dev_.alloc(64 * 4);
  Buffer f = dev_.alloc(32 * 4);
  Encoder enc = dev_.encoder();
  const auto rope = [&](std::uint32_t heads, std::uint32_t dim, const Arg& pos) {
    ops_.rope(enc, x, f, heads, dim, pos, RopeStyle::NeoX, "blk.0.rope_q");
  };
  Error e = error_from([&] { rope(1, 63, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "rope 'blk.0.rope_q'"));
  EXPECT_TRUE(mentions(e.what(), "head_dim must be even"));
  e = error_from([&] { rope(0, 64, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "n_heads"));
  e = error_from([&] { rope(2, 64, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "x holds 64 elements, expected 128"));
  e = error_from([&] { rope(1, 64, value(std::uint64_t{0})); });
  EXPECT_TRUE(mentions(e.what(), "pos must be a u32"));
  e = error_from([&] { rope(1, 64, in(x)); });
  EXPECT_TRUE(mentions(e.what(), "pos must be a u32"));
  EXPECT_FALSE(ops::can_rope(0));
  EXPECT_TRUE(ops::can_rope(2));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
