// The one overlap rule (half-open byte ranges), checked exhaustively on a small universe.

#include <gtest/gtest.h>

#include "encore/types.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

// Brute force: do the two ranges share a byte?
bool share_a_byte(ByteRange a, ByteRange b) {
  for (std::uint64_t x = a.begin; x < a.end; ++x) {
    if (x >= b.begin && x < b.end) return true;
  }
  return false;
}

// overlaps() agrees with "shares at least one byte" for every pair of ranges in [0, 8).
TEST(ByteRange, OverlapsMatchesSharedBytesForEveryPairOfSmallRanges) {
  int pairs = 0;
  for (std::uint64_t a0 = 0; a0 <= 8; ++a0) {
    for (std::uint64_t a1 = a0; a1 <= 8; ++a1) {
      for (std::uint64_t b0 = 0; b0 <= 8; ++b0) {
        for (std::uint64_t b1 = b0; b1 <= 8; ++b1) {
          const ByteRange a{a0, a1};
          const ByteRange b{b0, b1};
          ASSERT_EQ(overlaps(a, b), share_a_byte(a, b))
              << "[" << a0 << "," << a1 << ") vs [" << b0 << "," << b1 << ")";
          ASSERT_EQ(overlaps(a, b), overlaps(b, a));
          ++pairs;
        }
      }
    }
  }
  EXPECT_EQ(pairs, 45 * 45);
}

// Touching ranges are independent: [0,4) and [4,8) never conflict.
TEST(ByteRange, AdjacentRangesDoNotOverlap) {
  EXPECT_FALSE(overlaps({0, 4}, {4, 8}));
  EXPECT_FALSE(overlaps({4, 8}, {0, 4}));
}

// An empty range overlaps nothing, not even a range that contains its position.
TEST(ByteRange, EmptyRangeOverlapsNothing) {
  EXPECT_FALSE(overlaps({5, 5}, {0, 10}));
  EXPECT_FALSE(overlaps({0, 10}, {5, 5}));
  EXPECT_FALSE(overlaps({3, 3}, {3, 3}));
}

// Nested and partial overlaps both count.
TEST(ByteRange, NestedAndPartialRangesOverlap) {
  EXPECT_TRUE(overlaps({0, 100}, {10, 20}));
  EXPECT_TRUE(overlaps({10, 20}, {0, 100}));
  EXPECT_TRUE(overlaps({0, 10}, {9, 20}));
  EXPECT_TRUE(overlaps({9, 20}, {0, 10}));
}

// contains(): inner within outer; empty ranges are contained anywhere.
TEST(ByteRange, ContainsChecksBothEnds) {
  EXPECT_TRUE(contains({0, 10}, {0, 10}));
  EXPECT_TRUE(contains({0, 10}, {2, 5}));
  EXPECT_FALSE(contains({0, 10}, {5, 11}));
  EXPECT_TRUE(contains({0, 10}, {20, 20}));
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
