// The hazard tracker on its own: the seed's mem_ranges unit tests, restated for encore's one
// rule (per allocation, half-open view ranges), plus the record trimming that keeps edges minimal.

#include "core/hazard_tracker.h"

#include <gtest/gtest.h>
#include <vector>

namespace encore::detail {
namespace {
namespace ENCORE_TEST_FILE {

TrackedAccess read(std::uint32_t resource, std::uint64_t begin, std::uint64_t end) {
  return {resource, {begin, end}, false};
}
TrackedAccess write(std::uint32_t resource, std::uint64_t begin, std::uint64_t end) {
  return {resource, {begin, end}, true};
}

std::vector<Hazard> conflicts(const HazardTracker& t, TrackedAccess a) {
  std::vector<Hazard> out;
  t.collect_conflicts(a, out);
  return out;
}

// Two reads of the same bytes never conflict (seed: read_read_same_buffer_no_conflict).
TEST(HazardTracker, ReadAfterReadNeverConflicts) {
  HazardTracker t;
  t.record(0, std::vector{read(0, 0, 64)});
  EXPECT_TRUE(conflicts(t, read(0, 0, 64)).empty());
}

// Reading bytes an earlier dispatch wrote conflicts as RAW (seed: raw_same_buffer_conflicts).
TEST(HazardTracker, ReadAfterWriteOnOverlapConflicts) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 64)});
  const auto found = conflicts(t, read(0, 32, 96));
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].kind, DependencyKind::ReadAfterWrite);
  EXPECT_EQ(found[0].node, 0U);
  EXPECT_EQ(found[0].earlier, (ByteRange{0, 64}));
  EXPECT_EQ(found[0].later, (ByteRange{32, 96}));
}

// Writing bytes an earlier dispatch read conflicts as WAR (seed: war_same_buffer_conflicts).
TEST(HazardTracker, WriteAfterReadOnOverlapConflicts) {
  HazardTracker t;
  t.record(3, std::vector{read(0, 0, 64)});
  const auto found = conflicts(t, write(0, 0, 8));
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].kind, DependencyKind::WriteAfterRead);
  EXPECT_EQ(found[0].node, 3U);
}

// Two writes of the same bytes conflict as WAW (seed: waw_same_buffer_conflicts).
TEST(HazardTracker, WriteAfterWriteOnOverlapConflicts) {
  HazardTracker t;
  t.record(1, std::vector{write(0, 0, 64)});
  const auto found = conflicts(t, write(0, 63, 64));
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].kind, DependencyKind::WriteAfterWrite);
}

// Accesses to different allocations never conflict (seed: different_buffers_never_conflict).
TEST(HazardTracker, DifferentResourcesNeverConflict) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 64)});
  EXPECT_TRUE(conflicts(t, read(1, 0, 64)).empty());
  EXPECT_TRUE(conflicts(t, write(1, 0, 64)).empty());
  EXPECT_TRUE(conflicts(t, read(2, 0, 64)).empty());
}

// Sibling slices of one allocation are independent unless their bytes overlap. The seed's
// tracker got this wrong (slices ran to the end of the allocation, so lo/hi conflicted).
TEST(HazardTracker, DisjointSlicesOfOneAllocationDoNotConflict) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 512)});
  EXPECT_TRUE(conflicts(t, write(0, 512, 1024)).empty());
  EXPECT_TRUE(conflicts(t, read(0, 512, 1024)).empty());
  EXPECT_EQ(conflicts(t, read(0, 511, 1024)).size(), 1U);
}

// reset() forgets every record (seed: reset_clears_state).
TEST(HazardTracker, ResetForgetsEverything) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 64)});
  ASSERT_EQ(conflicts(t, read(0, 0, 64)).size(), 1U);
  t.reset();
  EXPECT_TRUE(conflicts(t, read(0, 0, 64)).empty());
  EXPECT_EQ(t.record_count(), 0U);
}

// The conflict relation is symmetric in roles: a read vs an earlier write and a write vs an
// earlier read both conflict (seed: conflict_is_symmetric).
TEST(HazardTracker, ConflictIsSymmetricInRoles) {
  HazardTracker a;
  a.record(0, std::vector{read(0, 0, 16)});
  HazardTracker b;
  b.record(0, std::vector{write(0, 0, 16)});
  EXPECT_EQ(conflicts(a, write(0, 0, 16)).size(), 1U);
  EXPECT_EQ(conflicts(b, read(0, 0, 16)).size(), 1U);
}

// A write supersedes older records: a later reader depends only on the newest writer.
TEST(HazardTracker, WriteTrimsOlderRecordsSoLaterReadersSeeOnlyTheNewestWriter) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 64)});
  t.record(1, std::vector{read(0, 0, 64)});
  t.record(2, std::vector{write(0, 0, 64)});
  const auto found = conflicts(t, read(0, 0, 64));
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].node, 2U);
}

// A partial overwrite splits the older write: the untouched bytes still lead to the old writer.
TEST(HazardTracker, PartialWriteSplitsOlderRecord) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 96)});
  t.record(1, std::vector{write(0, 32, 64)});
  auto left = conflicts(t, read(0, 0, 32));
  ASSERT_EQ(left.size(), 1U);
  EXPECT_EQ(left[0].node, 0U);
  EXPECT_EQ(left[0].earlier, (ByteRange{0, 32}));
  auto right = conflicts(t, read(0, 64, 96));
  ASSERT_EQ(right.size(), 1U);
  EXPECT_EQ(right[0].node, 0U);
  EXPECT_EQ(right[0].earlier, (ByteRange{64, 96}));
  auto middle = conflicts(t, read(0, 32, 64));
  ASSERT_EQ(middle.size(), 1U);
  EXPECT_EQ(middle[0].node, 1U);
}

// A writer after several readers depends on each of them (WAR), not just one.
TEST(HazardTracker, WriterAfterManyReadersConflictsWithEach) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 0, 64)});
  t.record(1, std::vector{read(0, 0, 64)});
  t.record(2, std::vector{read(0, 0, 32)});
  t.record(3, std::vector{read(0, 32, 64)});
  const auto found = conflicts(t, write(0, 0, 64));
  // WAW on node 0 plus WAR on 1, 2, 3.
  ASSERT_EQ(found.size(), 4U);
}

// An empty access range conflicts with nothing and records nothing.
TEST(HazardTracker, EmptyRangesAreIgnored) {
  HazardTracker t;
  t.record(0, std::vector{write(0, 8, 8)});
  EXPECT_EQ(t.record_count(), 0U);
  t.record(1, std::vector{write(0, 0, 64)});
  EXPECT_TRUE(conflicts(t, read(0, 8, 8)).empty());
}

// first_conflict reports the first conflicting access, for auto_barrier (seed:
// sequential_pattern_two_barriers: W x, R x, W y, R y forces two barriers).
TEST(HazardTracker, SequentialPatternNeedsTwoBarriers) {
  HazardTracker t;
  int barriers = 0;
  const std::vector<std::vector<TrackedAccess>> program = {
      {write(0, 0, 64)}, {read(0, 0, 64)}, {write(1, 0, 64)}, {read(1, 0, 64)}};
  for (std::uint32_t i = 0; i < program.size(); ++i) {
    Hazard h;
    if (t.first_conflict(program[i], h)) {
      ++barriers;
      t.reset();
    }
    t.record(i, program[i]);
  }
  EXPECT_EQ(barriers, 2);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore::detail
