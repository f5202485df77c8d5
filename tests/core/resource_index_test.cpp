// ResourceIndex, the allocation-id -> dense-index map of one command buffer: every id inserted
// keeps its index through many rehashes, for sequential ids, random ids and ids built to share
// their low or high bits.

#include "core/resource_index.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <random>
#include <set>
#include <vector>

namespace encore::detail {
namespace {
namespace ENCORE_TEST_FILE {

// Inserts `ids` in order (index = position) checking each is new, then finds them all again.
void expect_round_trip(const std::vector<std::uint64_t>& ids) {
  ResourceIndex index;
  for (std::uint32_t i = 0; i < ids.size(); ++i) {
    const auto [value, inserted] = index.find_or_insert(ids[i], i);
    ASSERT_TRUE(inserted) << "id " << ids[i] << " was reported present before its insert";
    ASSERT_EQ(value, i);
  }
  for (std::uint32_t i = 0; i < ids.size(); ++i) {
    // A different `next` must not change what is stored.
    const auto [value, inserted] = index.find_or_insert(ids[i], 0xFFFFFFFFU);
    ASSERT_FALSE(inserted) << "id " << ids[i] << " was lost";
    ASSERT_EQ(value, i) << "id " << ids[i];
  }
}

// 10000 sequential ids (as allocations are numbered) keep their indices across rehashes.
TEST(ResourceIndex, SequentialIdsSurviveRehashes) {
  std::vector<std::uint64_t> ids;
  for (std::uint64_t id = 1; id <= 10000; ++id) ids.push_back(id);
  expect_round_trip(ids);
}

// 10000 distinct random ids keep their indices across rehashes.
TEST(ResourceIndex, RandomIdsSurviveRehashes) {
  std::mt19937_64 rng(12345);
  std::set<std::uint64_t> seen;
  std::vector<std::uint64_t> ids;
  while (ids.size() < 10000) {
    const std::uint64_t id = rng();
    if (id != 0 && seen.insert(id).second) ids.push_back(id);
  }
  expect_round_trip(ids);
}

// Ids that differ only in their high bits, or only in widely spaced low bits, do not collide
// into lost entries.
TEST(ResourceIndex, IdsSharingBitsSurviveRehashes) {
  std::vector<std::uint64_t> high;
  std::vector<std::uint64_t> strided;
  for (std::uint64_t i = 1; i <= 10000; ++i) {
    high.push_back(i << 40);
    strided.push_back(i * 4096);
  }
  expect_round_trip(high);
  expect_round_trip(strided);
}

// Interleaving lookups of known ids with inserts of new ones (the encoder's pattern: most args
// bind buffers already seen) returns the first index every time.
TEST(ResourceIndex, RepeatedLookupsReturnTheFirstIndex) {
  ResourceIndex index;
  std::uint32_t next = 0;
  for (std::uint64_t id = 1; id <= 3000; ++id) {
    ASSERT_TRUE(index.find_or_insert(id * 7919, next).second);
    ++next;
    const std::uint64_t old = (id + 1) / 2 * 7919;  // an id inserted earlier
    const auto [value, inserted] = index.find_or_insert(old, next);
    ASSERT_FALSE(inserted);
    ASSERT_EQ(value, static_cast<std::uint32_t>((id + 1) / 2 - 1));
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::detail
