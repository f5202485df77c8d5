// Ordering inferred from declared access, end to end through the encoder: auto_barrier inserts
// one barrier per conflict (RAW, WAR, WAW) and none for read-after-read or disjoint slices;
// auto_dag records the same conflicts as exact edges instead, pruned to the ones not implied by
// others; serial and barriers modes for contrast. Every program also runs, so a missing barrier or
// edge shows up as a wrong number: on the CPU a device that shuffles ready dispatches runs them
// out of program order, on CUDA the graph's independent branches run concurrently.

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <span>
#include <string>
#include <vector>

#include "encore/encore.h"

#include "support/backend_test.h"
#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::download_floats;
using testing::upload_floats;

constexpr std::uint32_t kN = 4;
constexpr std::uint64_t kBytes = kN * sizeof(float);
constexpr ByteRange kWhole{0, kBytes};

// The suites of this file. On the CPU their devices draw ready dispatches in a seeded random order
// (one worker, reproducible), so dispatches with no ordering between them do run out of program
// order; the CUDA backend ignores those options (its graph branches run concurrently anyway).
class OrderingTest : public testing::BackendTest {
 protected:
  Device shuffled_device(std::uint64_t seed = 1234) const {
    DeviceOptions options;
    options.shuffle_seed = seed;
    options.cpu_threads = 1;
    return make_device(options);
  }
};

class AutoBarrier : public OrderingTest {};
class AutoDag : public OrderingTest {};
class SerialOrdering : public OrderingTest {};
class BarriersOrdering : public OrderingTest {};
class OrderingChoice : public OrderingTest {};

std::string range_text(ByteRange r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

void expect_dependency(const Dependency& d, std::uint32_t node, DependencyKind kind,
                       const Buffer& buffer, ByteRange earlier, ByteRange later) {
  EXPECT_EQ(d.node, node);
  EXPECT_EQ(d.kind, kind) << "got " << to_string(d.kind) << ", want " << to_string(kind);
  EXPECT_EQ(d.buffer, buffer.id());
  EXPECT_EQ(range_text(d.earlier), range_text(earlier));
  EXPECT_EQ(range_text(d.later), range_text(later));
}

// A node's dependencies ordered by source node (their recorded order is not part of the contract).
std::vector<Dependency> by_source(std::span<const Dependency> deps) {
  std::vector<Dependency> out(deps.begin(), deps.end());
  std::sort(out.begin(), out.end(),
            [](const Dependency& x, const Dependency& y) { return x.node < y.node; });
  return out;
}

// Checks that node `index` is a barrier inserted by auto_barrier because of `kind` on `buffer`.
void expect_inferred_barrier(const Recording& rec, std::size_t index, std::uint32_t earlier_node,
                             DependencyKind kind, const Buffer& buffer, ByteRange earlier,
                             ByteRange later) {
  const NodeInfo node = rec.node(index);
  EXPECT_EQ(node.kind, NodeKind::Barrier);
  EXPECT_TRUE(node.inferred);
  ASSERT_EQ(node.dependencies.size(), 1U);
  expect_dependency(node.dependencies[0], earlier_node, kind, buffer, earlier, later);
}

// Kernels and a few small buffers shared by the programs below.
struct Fixture {
  explicit Fixture(Device device) : dev(std::move(device)) {
    fill = dev.kernel("fill_f32");
    copy = dev.kernel("copy_f32");
    add = dev.kernel("add_f32");
    scale = dev.kernel("scale_f32");
    a = upload_floats(dev, {1, 2, 3, 4}, "a");
    b = upload_floats(dev, {5, 6, 7, 8}, "b");
    c = dev.alloc(kBytes, "c");
    d = dev.alloc(kBytes, "d");
  }

  void fill_with(Encoder& enc, const BufferView& y, float v, std::uint32_t n = kN) const {
    enc.dispatch(fill, cover(n), {out(y), value(v), value(n)});
  }
  void copy_to(Encoder& enc, const BufferView& x, const BufferView& y, std::uint32_t n = kN) const {
    enc.dispatch(copy, cover(n), {in(x), out(y), value(n)});
  }
  void add_to(Encoder& enc, const BufferView& x, const BufferView& y, const BufferView& z) const {
    enc.dispatch(add, cover(kN), {in(x), in(y), out(z), value(kN)});
  }
  void scale_to(Encoder& enc, const BufferView& x, const BufferView& y, float alpha) const {
    enc.dispatch(scale, cover(kN), {in(x), out(y), value(alpha), value(kN)});
  }

  Device dev;
  Kernel fill, copy, add, scale;
  Buffer a, b, c, d;
};

std::size_t count_barriers(const Recording& rec) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < rec.node_count(); ++i) {
    n += rec.node(i).kind == NodeKind::Barrier;
  }
  return n;
}

// ---- auto_barrier --------------------------------------------------------------------------

// Reading what an earlier dispatch wrote closes the group with exactly one inferred barrier that
// names RAW, the buffer and both byte ranges.
TEST_P(AutoBarrier, ReadAfterWriteInsertsOneInferredBarrier) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.add_to(enc, f.a, f.b, f.c);  // #0 writes c
  f.copy_to(enc, f.c, f.d);      // #2 reads c
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 3U);
  expect_inferred_barrier(rec, 1, 0, DependencyKind::ReadAfterWrite, f.c, kWhole, kWhole);
  EXPECT_EQ(rec.node(2).kind, NodeKind::Dispatch);
  EXPECT_EQ(rec.node(2).barrier_before, 1U);
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.barriers_inferred, 1U);
  EXPECT_EQ(stats.barriers_explicit, 0U);
  EXPECT_EQ(stats.dispatches_concurrent, 1U);  // only the first dispatch joined a group

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{6, 8, 10, 12}));
}

// Overwriting what an earlier dispatch reads inserts exactly one barrier, reason WAR.
TEST_P(AutoBarrier, WriteAfterReadInsertsOneInferredBarrier) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.copy_to(enc, f.a, f.d);     // #0 reads a
  f.fill_with(enc, f.a, 9.0F);  // #2 overwrites a
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 3U);
  expect_inferred_barrier(rec, 1, 0, DependencyKind::WriteAfterRead, f.a, kWhole, kWhole);
  EXPECT_EQ(f.dev.stats().barriers_inferred, 1U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{1, 2, 3, 4}));  // the old a
  EXPECT_EQ(download_floats(f.a), (std::vector<float>{9, 9, 9, 9}));
}

// Writing the same bytes twice inserts exactly one barrier, reason WAW; the last write wins.
TEST_P(AutoBarrier, WriteAfterWriteInsertsOneInferredBarrier) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.fill_with(enc, f.c, 1.0F);
  f.fill_with(enc, f.c, 2.0F);
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 3U);
  expect_inferred_barrier(rec, 1, 0, DependencyKind::WriteAfterWrite, f.c, kWhole, kWhole);
  EXPECT_EQ(f.dev.stats().barriers_inferred, 1U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.c), (std::vector<float>{2, 2, 2, 2}));
}

// Two readers of the same bytes never conflict: no barrier, and both dispatches count as
// concurrent (seed: read_read_same_buffer_no_conflict).
TEST_P(AutoBarrier, ReadAfterReadInsertsNoBarrier) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.copy_to(enc, f.a, f.c);
  f.copy_to(enc, f.a, f.d);
  const Recording rec = enc.finish();

  EXPECT_EQ(rec.node_count(), 2U);
  EXPECT_EQ(count_barriers(rec), 0U);
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.barriers_inferred, 0U);
  EXPECT_EQ(stats.dispatches_concurrent, 2U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.c), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{1, 2, 3, 4}));
}

// Sibling slices of one buffer that share no byte (here adjacent, on either side of the first
// one) never conflict; the seed's tracker barriered here because its slice ranges ran to the
// end of the allocation.
TEST_P(AutoBarrier, DisjointSlicesOfOneBufferInsertNoBarrier) {
  Fixture f(shuffled_device());
  Buffer x = f.dev.alloc(3 * kBytes, "x");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.fill_with(enc, x.view_of<float>(kN, kN), 2.0F);      // middle: bytes [16, 32)
  f.fill_with(enc, x.view_of<float>(0, kN), 1.0F);       // left:   bytes [0, 16)
  f.fill_with(enc, x.view_of<float>(2 * kN, kN), 3.0F);  // right:  bytes [32, 48)
  const Recording rec = enc.finish();

  EXPECT_EQ(count_barriers(rec), 0U);
  EXPECT_EQ(f.dev.stats().barriers_inferred, 0U);
  EXPECT_EQ(f.dev.stats().dispatches_concurrent, 3U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(x), (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
}

// Slices that share even one element conflict; the barrier names both slices' byte ranges.
TEST_P(AutoBarrier, OverlappingSlicesOfOneBufferInsertABarrier) {
  Fixture f(shuffled_device());
  Buffer x = f.dev.alloc(2 * kBytes, "x");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.fill_with(enc, x.view_of<float>(0, kN + 1), 1.0F, kN + 1);  // bytes [0, 20)
  f.fill_with(enc, x.view_of<float>(kN, kN), 2.0F);             // bytes [16, 32)
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 3U);
  expect_inferred_barrier(rec, 1, 0, DependencyKind::WriteAfterWrite, x, {0, 20}, {16, 32});

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(x), (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2}));
}

// An explicit barrier orders everything and forgets the tracked ranges: a RAW across it adds no
// inferred barrier, while a RAW after it inside the new group still does.
TEST_P(AutoBarrier, ExplicitBarrierResetsTheTracker) {
  Fixture f(shuffled_device());
  Buffer e = f.dev.alloc(kBytes, "e");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.fill_with(enc, f.c, 3.0F);  // #0 writes c
  enc.barrier();                // #1
  f.copy_to(enc, f.c, f.d);     // #2 reads c: ordered by #1 already
  f.copy_to(enc, f.d, e);       // #4 reads d, written by #2 in this group
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 5U);
  EXPECT_EQ(rec.node(1).kind, NodeKind::Barrier);
  EXPECT_FALSE(rec.node(1).inferred);
  EXPECT_EQ(rec.node(2).kind, NodeKind::Dispatch);
  EXPECT_EQ(rec.node(2).barrier_before, 1U);
  expect_inferred_barrier(rec, 3, 2, DependencyKind::ReadAfterWrite, f.d, kWhole, kWhole);
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.barriers_explicit, 1U);
  EXPECT_EQ(stats.barriers_inferred, 1U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(e), (std::vector<float>{3, 3, 3, 3}));
}

// An inferred barrier also starts a fresh group: after W c | R c, another read of c and a write
// of an unrelated buffer join the group without a second barrier (seed:
// sequential_pattern_two_barriers counts only real conflicts).
TEST_P(AutoBarrier, InferredBarrierStartsAFreshGroup) {
  Fixture f(shuffled_device());
  Buffer e = f.dev.alloc(kBytes, "e");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoBarrier});
  f.fill_with(enc, f.c, 5.0F);   // #0 W c
  f.copy_to(enc, f.c, f.d);      // #2 R c (barrier #1), W d
  f.copy_to(enc, f.c, e);        // #3 R c, W e: no conflict in the new group
  f.scale_to(enc, f.d, f.a, 2);  // #5 R d: conflicts with #2 (barrier #4)
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 6U);
  EXPECT_EQ(count_barriers(rec), 2U);
  expect_inferred_barrier(rec, 1, 0, DependencyKind::ReadAfterWrite, f.c, kWhole, kWhole);
  EXPECT_EQ(rec.node(3).kind, NodeKind::Dispatch);
  expect_inferred_barrier(rec, 4, 2, DependencyKind::ReadAfterWrite, f.d, kWhole, kWhole);
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.barriers_inferred, 2U);
  EXPECT_EQ(stats.dispatches_concurrent, 2U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(e), (std::vector<float>{5, 5, 5, 5}));
  EXPECT_EQ(download_floats(f.a), (std::vector<float>{10, 10, 10, 10}));
}

// ---- auto_dag ------------------------------------------------------------------------------

// A read of what an earlier dispatch wrote becomes one RAW edge (no barrier node) naming the
// buffer and both ranges.
TEST_P(AutoDag, ReadAfterWriteRecordsOneEdge) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.add_to(enc, f.a, f.b, f.c);
  f.copy_to(enc, f.c.view_of<float>(1, 2), f.d.view_of<float>(0, 2), 2);
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 2U);
  EXPECT_TRUE(rec.node(0).dependencies.empty());
  const NodeInfo reader = rec.node(1);
  ASSERT_EQ(reader.dependencies.size(), 1U);
  expect_dependency(reader.dependencies[0], 0, DependencyKind::ReadAfterWrite, f.c, kWhole,
                    {4, 12});
  EXPECT_EQ(rec.edge_count(), 1U);
  EXPECT_EQ(f.dev.stats().edges_inferred, 1U);
  EXPECT_EQ(f.dev.stats().barriers_inferred, 0U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{8, 10, 0, 0}));
}

// Overwriting what an earlier dispatch reads becomes one WAR edge.
TEST_P(AutoDag, WriteAfterReadRecordsOneEdge) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.copy_to(enc, f.a, f.d);
  f.fill_with(enc, f.a, 9.0F);
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 2U);
  const NodeInfo writer = rec.node(1);
  ASSERT_EQ(writer.dependencies.size(), 1U);
  expect_dependency(writer.dependencies[0], 0, DependencyKind::WriteAfterRead, f.a, kWhole, kWhole);
  EXPECT_EQ(f.dev.stats().edges_inferred, 1U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(download_floats(f.a), (std::vector<float>{9, 9, 9, 9}));
}

// Writing the same bytes twice becomes one WAW edge.
TEST_P(AutoDag, WriteAfterWriteRecordsOneEdge) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.fill_with(enc, f.c, 1.0F);
  f.fill_with(enc, f.c, 2.0F);
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 2U);
  const NodeInfo second = rec.node(1);
  ASSERT_EQ(second.dependencies.size(), 1U);
  expect_dependency(second.dependencies[0], 0, DependencyKind::WriteAfterWrite, f.c, kWhole,
                    kWhole);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.c), (std::vector<float>{2, 2, 2, 2}));
}

// Two readers of the same bytes get no edge between them.
TEST_P(AutoDag, ReadAfterReadRecordsNoEdge) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.copy_to(enc, f.a, f.c);
  f.copy_to(enc, f.a, f.d);
  const Recording rec = enc.finish();

  EXPECT_EQ(rec.edge_count(), 0U);
  EXPECT_TRUE(rec.node(1).dependencies.empty());
  EXPECT_EQ(f.dev.stats().edges_inferred, 0U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.c), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{1, 2, 3, 4}));
}

// Disjoint slices of one buffer get no edge, whichever side of an earlier slice they lie on and
// whether they are read or written; overlapping ones get an edge naming both ranges.
TEST_P(AutoDag, OnlyOverlappingSlicesOfOneBufferGetAnEdge) {
  Fixture f(shuffled_device());
  Buffer x = f.dev.alloc(2 * kBytes, "x");
  Buffer low = f.dev.alloc(kBytes, "low");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.fill_with(enc, x.view_of<float>(kN, kN), 2.0F);   // #0 bytes [16, 32)
  f.fill_with(enc, x.view_of<float>(0, kN), 1.0F);    // #1 bytes [0, 16): disjoint from #0
  f.copy_to(enc, x.view_of<float>(0, kN), low);       // #2 reads [0, 16): RAW on #1 only
  f.fill_with(enc, x.view_of<float>(3, 2), 3.0F, 2);  // #3 bytes [12, 20): overlaps #0 and #1
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 4U);
  EXPECT_TRUE(rec.node(1).dependencies.empty());
  ASSERT_EQ(rec.node(2).dependencies.size(), 1U);
  expect_dependency(rec.node(2).dependencies[0], 1, DependencyKind::ReadAfterWrite, x, {0, 16},
                    {0, 16});
  const std::vector<Dependency> fourth = by_source(rec.node(3).dependencies);
  ASSERT_EQ(fourth.size(), 2U);
  expect_dependency(fourth[0], 0, DependencyKind::WriteAfterWrite, x, {16, 32}, {12, 20});
  expect_dependency(fourth[1], 2, DependencyKind::WriteAfterRead, x, {0, 16}, {12, 20});

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(x), (std::vector<float>{1, 1, 1, 3, 3, 2, 2, 2}));
  EXPECT_EQ(download_floats(low), (std::vector<float>{1, 1, 1, 1}));
}

// Two independent chains interleaved in program order get edges only inside each chain, which
// barrier insertion cannot express; each chain's last RAW on its input is implied through the
// chain's middle dispatch and pruned.
TEST_P(AutoDag, InterleavedIndependentChainsGetNoCrossEdges) {
  Fixture f(shuffled_device());
  Buffer x = f.dev.alloc(kBytes, "x"), x2 = f.dev.alloc(kBytes, "x2"), x3 = f.dev.alloc(kBytes);
  Buffer y = f.dev.alloc(kBytes, "y"), y2 = f.dev.alloc(kBytes, "y2"), y3 = f.dev.alloc(kBytes);
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.fill_with(enc, x, 2.0F);     // #0 chain x
  f.fill_with(enc, y, 5.0F);     // #1 chain y
  f.scale_to(enc, x, x2, 3.0F);  // #2 after #0
  f.scale_to(enc, y, y2, 3.0F);  // #3 after #1
  f.add_to(enc, x, x2, x3);      // #4 after #2 (its RAW on #0 is implied through #2)
  f.add_to(enc, y, y2, y3);      // #5 after #3
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 6U);
  EXPECT_EQ(count_barriers(rec), 0U);
  const std::uint32_t expected_source[] = {0, 0, 0, 1, 2, 3};
  for (std::size_t i = 2; i < 6; ++i) {
    SCOPED_TRACE(i);
    const NodeInfo node = rec.node(i);
    ASSERT_EQ(node.dependencies.size(), 1U);
    EXPECT_EQ(node.dependencies[0].node, expected_source[i]);
    EXPECT_EQ(node.dependencies[0].kind, DependencyKind::ReadAfterWrite);
  }
  EXPECT_EQ(rec.edge_count(), 4U);
  EXPECT_EQ(f.dev.stats().edges_inferred, 4U);
  EXPECT_EQ(f.dev.stats().edges_pruned, 2U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(x3), (std::vector<float>{8, 8, 8, 8}));
  EXPECT_EQ(download_floats(y3), (std::vector<float>{20, 20, 20, 20}));
}

// A write after two readers depends on both readers (WAR) and not on the older writer: that WAW
// edge is implied through the readers and pruned (counted in edges_pruned).
TEST_P(AutoDag, WriteAfterTwoReadersDependsOnBothReadersOnly) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.fill_with(enc, f.a, 3.0F);  // #0 W a
  f.copy_to(enc, f.a, f.c);     // #1 R a
  f.copy_to(enc, f.a, f.d);     // #2 R a
  f.fill_with(enc, f.a, 9.0F);  // #3 W a
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 4U);
  const std::vector<Dependency> writer = by_source(rec.node(3).dependencies);
  ASSERT_EQ(writer.size(), 2U);
  expect_dependency(writer[0], 1, DependencyKind::WriteAfterRead, f.a, kWhole, kWhole);
  expect_dependency(writer[1], 2, DependencyKind::WriteAfterRead, f.a, kWhole, kWhole);
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.edges_inferred, 4U);  // #1->#0, #2->#0, #3->#1, #3->#2
  EXPECT_EQ(stats.edges_pruned, 1U);    // #3->#0
  EXPECT_EQ(rec.edge_count(), 4U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(f.c), (std::vector<float>{3, 3, 3, 3}));
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{3, 3, 3, 3}));
  EXPECT_EQ(download_floats(f.a), (std::vector<float>{9, 9, 9, 9}));
}

// An explicit barrier in auto_dag orders everything before it and forgets the tracked ranges: a
// RAW across it gets no edge, only the barrier; a RAW after it gets an edge again.
TEST_P(AutoDag, ExplicitBarrierReplacesEdgesAcrossIt) {
  Fixture f(shuffled_device());
  Buffer e = f.dev.alloc(kBytes, "e");
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.fill_with(enc, f.c, 4.0F);  // #0
  enc.barrier();                // #1
  f.copy_to(enc, f.c, f.d);     // #2
  f.copy_to(enc, f.d, e);       // #3
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 4U);
  EXPECT_TRUE(rec.node(2).dependencies.empty());
  EXPECT_EQ(rec.node(2).barrier_before, 1U);
  ASSERT_EQ(rec.node(3).dependencies.size(), 1U);
  expect_dependency(rec.node(3).dependencies[0], 2, DependencyKind::ReadAfterWrite, f.d, kWhole,
                    kWhole);
  EXPECT_EQ(f.dev.stats().edges_inferred, 1U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(download_floats(e), (std::vector<float>{4, 4, 4, 4}));
}

// Extra declared ranges take part in inference like args: a dispatch that only declares an
// extra read of c depends on c's writer.
TEST_P(AutoDag, ExtraDeclaredReadsCreateEdges) {
  Fixture f(shuffled_device());
  Encoder enc = f.dev.encoder({.ordering = Ordering::AutoDag});
  f.fill_with(enc, f.c, 1.0F);
  const BufferView extra[] = {f.c.view_of<float>(2, 1)};
  enc.dispatch(f.copy, cover(kN), {in(f.a), out(f.d), value(kN)}, {.extra_reads = extra});
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node(1).dependencies.size(), 1U);
  expect_dependency(rec.node(1).dependencies[0], 0, DependencyKind::ReadAfterWrite, f.c, kWhole,
                    {8, 12});
}

// ---- serial and barriers -------------------------------------------------------------------

// Serial ordering chains every dispatch to the previous one with a program-order edge, even when
// they touch nothing in common; these are not inferred edges.
TEST_P(SerialOrdering, EveryDispatchFollowsThePreviousOne) {
  Fixture f(shuffled_device());
  Buffer log = f.dev.alloc(8 * sizeof(std::uint32_t), "log");
  const Kernel log_order = f.dev.kernel("log_order");
  Encoder enc = f.dev.encoder({.ordering = Ordering::Serial});
  enc.dispatch(log_order, Launch::groups(1, 1), {inout(log), value(std::uint32_t{1})});
  f.fill_with(enc, f.c, 1.0F);  // independent of everything
  enc.dispatch(log_order, Launch::groups(1, 1), {inout(log), value(std::uint32_t{2})});
  enc.dispatch(log_order, Launch::groups(1, 1), {inout(log), value(std::uint32_t{3})});
  const Recording rec = enc.finish();

  ASSERT_EQ(rec.node_count(), 4U);
  EXPECT_TRUE(rec.node(0).dependencies.empty());
  for (std::uint32_t i = 1; i < 4; ++i) {
    SCOPED_TRACE(i);
    const NodeInfo node = rec.node(i);
    ASSERT_EQ(node.dependencies.size(), 1U);
    EXPECT_EQ(node.dependencies[0].node, i - 1);
    EXPECT_EQ(node.dependencies[0].kind, DependencyKind::ProgramOrder);
    EXPECT_EQ(node.dependencies[0].buffer, 0U);
  }
  EXPECT_EQ(rec.edge_count(), 3U);
  EXPECT_EQ(f.dev.stats().edges_inferred, 0U);

  f.dev.submit(rec).wait();
  EXPECT_EQ(log.download<std::uint32_t>(), (std::vector<std::uint32_t>{3, 1, 2, 3, 0, 0, 0, 0}));
}

// Barriers ordering infers nothing: a RAW pair gets neither an edge nor a barrier; only an
// explicit barrier orders it, and then the program computes the right result.
TEST_P(BarriersOrdering, RecordsNoEdgesAndInfersNoBarriers) {
  Fixture f(shuffled_device());
  Encoder unordered = f.dev.encoder({.ordering = Ordering::Barriers});
  f.add_to(unordered, f.a, f.b, f.c);
  f.copy_to(unordered, f.c, f.d);
  const Recording rec = unordered.finish();
  EXPECT_EQ(rec.node_count(), 2U);
  EXPECT_EQ(rec.edge_count(), 0U);
  EXPECT_TRUE(rec.node(1).dependencies.empty());
  EXPECT_FALSE(rec.node(1).barrier_before.has_value());

  Encoder ordered = f.dev.encoder({.ordering = Ordering::Barriers});
  f.add_to(ordered, f.a, f.b, f.c);
  ordered.barrier();
  f.copy_to(ordered, f.c, f.d);
  ordered.commit_and_wait();
  const Stats stats = f.dev.stats();
  EXPECT_EQ(stats.edges_inferred, 0U);
  EXPECT_EQ(stats.barriers_inferred, 0U);
  EXPECT_EQ(stats.dispatches_concurrent, 0U);
  EXPECT_EQ(stats.barriers_explicit, 1U);
  EXPECT_EQ(download_floats(f.d), (std::vector<float>{6, 8, 10, 12}));
}

// The encoder reports the ordering it was given, and the device's default (auto_dag) otherwise.
TEST_P(OrderingChoice, EncoderUsesItsOwnOrderingOrTheDevicesDefault) {
  Device dev = make_device();
  EXPECT_EQ(dev.encoder().ordering(), Ordering::AutoDag);
  EXPECT_EQ(dev.encoder({.ordering = Ordering::Serial}).ordering(), Ordering::Serial);
  DeviceOptions forced;
  forced.ordering = Ordering::Barriers;
  forced.force_ordering = true;
  Device forced_dev = make_device(forced);
  EXPECT_EQ(forced_dev.encoder({.ordering = Ordering::AutoDag}).ordering(), Ordering::Barriers);
}

ENCORE_INSTANTIATE_BACKEND_SUITE(AutoBarrier);
ENCORE_INSTANTIATE_BACKEND_SUITE(AutoDag);
ENCORE_INSTANTIATE_BACKEND_SUITE(SerialOrdering);
ENCORE_INSTANTIATE_BACKEND_SUITE(BarriersOrdering);
ENCORE_INSTANTIATE_BACKEND_SUITE(OrderingChoice);

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
