// kv_append on the CPU backend: the row at pos becomes the bf16 of k and v (nearest, ties to
// even), every other row is kept, pos is a slot, a pos past the cache writes nothing.

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

using testing::error_from;
using testing::mentions;
using testing::upload;

class KvAppendOps : public ::testing::Test {
 protected:
  Device dev_ = testing::make_ops_cpu_device();
  ops::OpEncoder ops_{dev_};
};

// Rows appended at slot positions land where they should, rounded to nearest even, and a
// position past the end changes nothing.
TEST_F(KvAppendOps, WritesTheRoundedRowAtThePositionAndNothingElse) {
  const std::uint32_t row = 300;  // more than one block of 256
  const std::uint32_t rows = 5;
  std::vector<float> k = testing::random_floats(row, 1, -4.0F, 4.0F);
  std::vector<float> v = testing::random_floats(row, 2, -4.0F, 4.0F);
  // Halfway cases: 1 + 2^-8 rounds down to 1 (even), 1 + 3 * 2^-8 up to 1 + 2^-6 (even).
  k[0] = 1.0F + 1.0F / 256.0F;
  k[1] = 1.0F + 3.0F / 256.0F;
  Buffer kb = upload(dev_, k);
  Buffer vb = upload(dev_, v);
  const std::vector<std::uint16_t> fill(std::size_t{row} * rows, 0x1234);
  Buffer kc = upload(dev_, fill);
  Buffer vc = upload(dev_, fill);
  Encoder enc = dev_.encoder();
  ops_.kv_append(enc, kb, vb, kc, vc, row, slot<std::uint32_t>("pos", 0), "blk.0.kv");
  Recording rec = enc.finish();
  EXPECT_EQ(rec.node(0).op, OpKind::KvAppend);
  std::vector<std::uint16_t> want_k = fill;
  std::vector<std::uint16_t> want_v = fill;
  for (const std::uint32_t pos : {3U, 0U, rows, 1000U}) {
    SCOPED_TRACE("pos " + std::to_string(pos));
    rec.set("pos", pos);
    dev_.submit(rec).wait();
    if (pos < rows) {
      for (std::uint32_t i = 0; i < row; ++i) {
        want_k[std::size_t{pos} * row + i] = testing::nearest_bf16(k[i]);
        want_v[std::size_t{pos} * row + i] = testing::nearest_bf16(v[i]);
      }
    }
    EXPECT_EQ(kc.download<std::uint16_t>(), want_k);
    EXPECT_EQ(vc.download<std::uint16_t>(), want_v);
  }
  EXPECT_EQ(want_k[3 * row], 0x3F80);      // 1.0
  EXPECT_EQ(want_k[3 * row + 1], 0x3F82);  // 1 + 2^-6
}

// Mis-sized k, v or caches are refused.
TEST_F(KvAppendOps, InconsistentViewsAreRefused) {
  Buffer k = dev_.alloc(8 * 4);
  Buffer cache = dev_.alloc(8 * 4 * 2);
  Buffer odd_cache = dev_.alloc(7 * 2);
  Buffer other_cache = dev_.alloc(8 * 3 * 2);
  Encoder enc = dev_.encoder();
  Error e =
      error_from([&] { ops_.kv_append(enc, k, k, odd_cache, odd_cache, 8, value(0U), "kv"); });
  EXPECT_TRUE(mentions(e.what(), "kv_append 'kv'"));
  EXPECT_TRUE(mentions(e.what(), "multiple of row_elems = 8"));
  e = error_from([&] { ops_.kv_append(enc, k, k, cache, other_cache, 8, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "v_cache holds 24"));
  e = error_from([&] { ops_.kv_append(enc, k, k, cache, cache, 4, value(0U)); });
  EXPECT_TRUE(mentions(e.what(), "k holds 8 elements, expected 4"));
  e = error_from([&] { ops_.kv_append(enc, k, k, cache, cache, 8, value(std::uint16_t{1})); });
  EXPECT_TRUE(mentions(e.what(), "pos must be a u32"));
  EXPECT_EQ(enc.dispatch_count(), 0U);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
