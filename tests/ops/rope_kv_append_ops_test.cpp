// rope_kv_append on the CPU backend: bit for bit the rope of q and k followed by kv_append (the
// unfused pair it replaces), against a scalar reference, pos a slot (one recording for every
// position, past the cache included), rows other than pos kept, k left unwritten, and refusals.

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
using testing::error_from;
using testing::mentions;
using testing::random_floats;
using testing::upload;

struct Shape {
  std::uint32_t heads;
  std::uint32_t kv_heads;
  std::uint32_t head_dim;
};

constexpr std::uint32_t kRows = 6;

std::vector<float> inverse_frequencies(std::uint32_t head_dim) {
  std::vector<float> f(head_dim / 2);
  for (std::uint32_t j = 0; j < head_dim / 2; ++j) {
    f[j] = static_cast<float>(1.0 / std::pow(1000000.0, 2.0 * j / head_dim));
  }
  return f;
}

// What one run leaves behind: q (rotated) and both caches.
struct State {
  std::vector<float> q;
  std::vector<std::uint16_t> k_cache;
  std::vector<std::uint16_t> v_cache;
};

class RopeKvAppendOps : public ::testing::Test {
 protected:
  // qkv = [q | k | v] as in the decode step; the caches start filled with a pattern. `fused`
  // records rope_kv_append, else rope over q|k followed by kv_append. pos is a slot.
  std::vector<State> run(const Shape& s, const std::vector<float>& qkv, RopeStyle style, bool fused,
                         const std::vector<std::uint32_t>& positions) {
    const std::uint32_t q_elems = s.heads * s.head_dim;
    const std::uint32_t row = s.kv_heads * s.head_dim;
    Buffer x = dev_.alloc(qkv.size() * 4);
    Buffer f = upload(dev_, inverse_frequencies(s.head_dim));
    const std::vector<std::uint16_t> fill(std::size_t{row} * kRows, 0x4321);
    Buffer kc = upload(dev_, fill);
    Buffer vc = upload(dev_, fill);
    const BufferView q = x.view_of<float>(0, q_elems);
    const BufferView k = x.view_of<float>(q_elems, row);
    const BufferView v = x.view_of<float>(q_elems + row, row);
    Encoder enc = dev_.encoder();
    if (fused) {
      ops_.rope_kv_append(enc, q, k, v, f, kc, vc, s.heads, s.kv_heads, s.head_dim,
                          slot<std::uint32_t>("pos", 0), style, "blk.0.rope_kv");
    } else {
      ops_.rope(enc, x.view_of<float>(0, q_elems + row), f, s.heads + s.kv_heads, s.head_dim,
                slot<std::uint32_t>("pos", 0), style);
      ops_.kv_append(enc, k, v, kc, vc, row, slot<std::uint32_t>("pos", 0));
    }
    Recording rec = enc.finish();
    std::vector<State> states;
    for (const std::uint32_t pos : positions) {
      x.upload(std::span<const float>(qkv));
      rec.set("pos", pos);
      dev_.submit(rec).wait();
      const std::vector<float> all = x.download<float>();
      if (fused) {  // k and v are inputs only
        EXPECT_TRUE(std::equal(all.begin() + q_elems, all.end(), qkv.begin() + q_elems));
      }
      states.push_back({std::vector<float>(all.begin(), all.begin() + q_elems),
                        kc.download<std::uint16_t>(), vc.download<std::uint16_t>()});
    }
    return states;
  }

  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// The fused op leaves exactly what rope followed by kv_append leaves, for every position
// (including one past the cache, which writes no row), both styles and several GQA shapes.
TEST_F(RopeKvAppendOps, EqualsRopeThenKvAppendBitForBit) {
  const std::vector<std::uint32_t> positions = {0, 5, 2, kRows, 1000};
  for (const Shape s : {Shape{14, 2, 64}, Shape{32, 8, 64}, Shape{4, 1, 128}, Shape{3, 3, 2}}) {
    for (const RopeStyle style : {RopeStyle::NeoX, RopeStyle::Interleaved}) {
      SCOPED_TRACE("heads " + std::to_string(s.heads) + "/" + std::to_string(s.kv_heads) +
                   ", head_dim " + std::to_string(s.head_dim) +
                   (style == RopeStyle::NeoX ? ", neox" : ", interleaved"));
      const std::vector<float> qkv =
          random_floats(std::size_t{s.heads + 2 * s.kv_heads} * s.head_dim, s.heads, -3.0F, 3.0F);
      const std::vector<State> fused = run(s, qkv, style, true, positions);
      const std::vector<State> split = run(s, qkv, style, false, positions);
      ASSERT_EQ(fused.size(), split.size());
      for (std::size_t i = 0; i < fused.size(); ++i) {
        SCOPED_TRACE("pos " + std::to_string(positions[i]));
        EXPECT_TRUE(testing::all_identical(fused[i].q, split[i].q));
        EXPECT_EQ(fused[i].k_cache, split[i].k_cache);
        EXPECT_EQ(fused[i].v_cache, split[i].v_cache);
      }
    }
  }
}

// Against a scalar reference: q turned by pos * inv_freq, row pos of the caches holding the
// turned k and v rounded to bf16 (k within one bf16 step of the double rotation), other rows
// kept.
TEST_F(RopeKvAppendOps, MatchesTheScalarReference) {
  const Shape s{4, 2, 64};
  const std::uint32_t pos = 3;
  const std::uint32_t half = s.head_dim / 2;
  const std::vector<float> qkv = random_floats(std::size_t{s.heads + 2 * s.kv_heads} * 64, 77);
  const std::vector<float> f = inverse_frequencies(s.head_dim);
  const State got = run(s, qkv, RopeStyle::NeoX, true, {pos})[0];
  const std::uint32_t row = s.kv_heads * s.head_dim;
  const auto turned = [&](std::size_t head_base, std::uint32_t i) {
    const std::uint32_t j = i % half;
    const double angle = static_cast<float>(pos) * f[j];
    const double x0 = qkv[head_base + j];
    const double x1 = qkv[head_base + j + half];
    return i < half ? x0 * std::cos(angle) - x1 * std::sin(angle)
                    : x0 * std::sin(angle) + x1 * std::cos(angle);
  };
  for (std::uint32_t h = 0; h < s.heads; ++h) {
    for (std::uint32_t i = 0; i < s.head_dim; ++i) {
      ASSERT_NEAR(got.q[h * 64 + i], turned(std::size_t{h} * 64, i), 2e-6) << h << ", " << i;
    }
  }
  for (std::uint32_t r = 0; r < kRows; ++r) {
    for (std::uint32_t e = 0; e < row; ++e) {
      const std::size_t at = std::size_t{r} * row + e;
      if (r != pos) {
        ASSERT_EQ(got.k_cache[at], 0x4321);
        ASSERT_EQ(got.v_cache[at], 0x4321);
        continue;
      }
      const double want_k = turned(s.heads * 64 + (e / 64) * 64, e % 64);
      ASSERT_NEAR(testing::bf16_value(got.k_cache[at]), want_k, std::fabs(want_k) / 128 + 1e-30)
          << e;
      ASSERT_EQ(got.v_cache[at], testing::nearest_bf16(qkv[s.heads * 64 + row + e])) << e;
    }
  }
}

// Shapes the op cannot take, mis-sized or overlapping views and a non-u32 pos are refused before
// anything is recorded.
TEST_F(RopeKvAppendOps, BadShapesAndOverlapsAreRefused) {
  EXPECT_TRUE(mentions(ops::can_rope_kv_append(4, 2, 63).reason, "head_dim must be even"));
  EXPECT_TRUE(mentions(ops::can_rope_kv_append(4, 0, 64).reason, "at least 1"));
  EXPECT_TRUE(ops::can_rope_kv_append(14, 2, 64));
  Buffer x = dev_.alloc((4 + 4) * 64 * 4);
  Buffer f = dev_.alloc(32 * 4);
  Buffer caches = dev_.alloc(2 * 8 * 128 * 2);
  const BufferView q = x.view_of<float>(0, 4 * 64);
  const BufferView k = x.view_of<float>(4 * 64, 2 * 64);
  const BufferView v = x.view_of<float>(6 * 64, 2 * 64);
  const BufferView kc = caches.view(0, 8 * 128 * 2);
  const BufferView vc = caches.view(8 * 128 * 2, 8 * 128 * 2);
  Encoder enc = dev_.encoder();
  struct Views {
    BufferView q, k, v, k_cache, v_cache;
  };
  const auto call = [&](const Views& w, const Arg& pos) {
    ops_.rope_kv_append(enc, w.q, w.k, w.v, f, w.k_cache, w.v_cache, 4, 2, 64, pos, RopeStyle::NeoX,
                        "blk.2.rope_kv");
  };
  Error e = error_from([&] { call({x.view_of<float>(0, 3 * 64), k, v, kc, vc}, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "rope_kv_append 'blk.2.rope_kv'"));
  EXPECT_TRUE(mentions(e.what(), "q holds 192 elements, expected 256"));
  e = error_from([&] { call({x.view_of<float>(64, 4 * 64), k, v, kc, vc}, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "q overlaps k"));
  e = error_from([&] { call({q, k, v, kc, caches.view(100, 8 * 128 * 2)}, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "k_cache overlaps v_cache"));
  e = error_from([&] { call({q, k, v, caches.view(0, 100 * 2), vc}, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "not a positive multiple of n_kv_heads * head_dim = 128"));
  e = error_from([&] { call({q, k, v, kc, vc}, in(x)); });
  EXPECT_TRUE(mentions(e.what(), "pos must be a u32"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
  call({q, k, v, kc, vc}, value(0U));
  EXPECT_EQ(enc.dispatch_count(), 1U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
