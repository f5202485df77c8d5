// The key differential test of encore's orderings. Random programs of mix_u32 / fill_u32
// dispatches over random, often overlapping views of a few buffers (and the odd explicit barrier;
// support/random_program.h, the generator the CUDA-vs-CPU differential test shares) must leave
// every buffer byte-identical to a serial run, whatever the ordering mode, the number of worker
// threads and the (shuffled) order in which ready dispatches are picked. The recorded schedules are
// checked against a naive oracle written here, independent of src/core: auto_barrier puts its
// barriers exactly where a greedy O(n^2) scan does, and auto_dag's graph orders every conflicting
// pair and records only edges between dispatches that really conflict.
//
// Two negative controls prove the harness can fail: dropping the oracle's barriers changes the
// result of some conflicting program, and the DAG and edge checkers reject schedules that are
// known to be wrong (no barriers at all, serial program-order edges).
//
// The 1-thread shuffled device of each case is opened with the case's generated seed, so a
// failure replays exactly from rapidcheck's reproduce string (a shuffled device draws each
// submission's order from its seed and the submission's sequence number, so one shared device
// would give a replayed case another order). A 1-thread device starts one thread; the 4-thread
// devices are opened once per test.

#include <cstdint>
#include <gtest/gtest.h>
#include <optional>
#include <ostream>
#include <rapidcheck.h>
#include <sstream>
#include <string>
#include <vector>

#include "property/program_gen.h"
#include "support/random_program.h"
#include "support/test_support.h"

namespace encore {

namespace {
namespace ENCORE_TEST_FILE {

using testing::Contents;
using testing::first_difference;
using testing::gen_program;
using testing::make_buffers;
using testing::Program;
using testing::Step;
using testing::StepKind;
using testing::Submit;
using testing::ViewSpec;

// ---- the oracle (naive, independent of src/core) ----------------------------------------------

struct ByteAccess {
  int buffer = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  bool read = false;
  bool write = false;
};

ByteAccess bytes_of(ViewSpec v, bool read, bool write) {
  return {v.buffer, std::uint64_t{v.first} * 4, (std::uint64_t{v.first} + v.count) * 4, read,
          write};
}

// mix_u32 reads src and reads and writes dst (inout); fill_u32 only writes dst (out). (The f32
// steps, which these programs do not generate, read their sources and write dst.)
std::vector<ByteAccess> accesses_of(const Step& s) {
  switch (s.kind) {
    case StepKind::Mix:
      return {bytes_of(s.src, true, false), bytes_of(s.dst, true, true)};
    case StepKind::Fill:
    case StepKind::FillF:
      return {bytes_of(s.dst, false, true)};
    case StepKind::Norm:
      return {bytes_of(s.src, true, false), bytes_of(s.dst, false, true)};
    case StepKind::Mul:
    case StepKind::Add:
      return {bytes_of(s.src, true, false), bytes_of(s.src2, true, false),
              bytes_of(s.dst, false, true)};
    case StepKind::Barrier:
      return {};
  }
  return {};
}

bool share_bytes(std::uint64_t a_begin, std::uint64_t a_end, std::uint64_t b_begin,
                 std::uint64_t b_end) {
  return a_begin < a_end && b_begin < b_end && a_begin < b_end && b_begin < a_end;
}

// Same buffer, a shared byte, and at least one of the two writes.
bool conflict(const ByteAccess& a, const ByteAccess& b) {
  return a.buffer == b.buffer && (a.write || b.write) &&
         share_bytes(a.begin, a.end, b.begin, b.end);
}

bool steps_conflict(const Step& a, const Step& b) {
  for (const ByteAccess& x : accesses_of(a)) {
    for (const ByteAccess& y : accesses_of(b)) {
      if (conflict(x, y)) return true;
    }
  }
  return false;
}

// The greedy barrier oracle: true at step i when a barrier must precede dispatch i because it
// conflicts with a dispatch since the last barrier (explicit or inserted).
std::vector<bool> oracle_barriers(const Program& p) {
  std::vector<bool> before(p.steps.size(), false);
  std::vector<std::size_t> group;
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    if (p.steps[i].kind == StepKind::Barrier) {
      group.clear();
      continue;
    }
    for (std::size_t j : group) {
      if (steps_conflict(p.steps[j], p.steps[i])) {
        before[i] = true;
        group.clear();
        break;
      }
    }
    group.push_back(i);
  }
  return before;
}

bool has_inserted_barrier(const Program& p) {
  for (bool b : oracle_barriers(p)) {
    if (b) return true;
  }
  return false;
}

// ---- running programs -------------------------------------------------------------------------

Device serial_device() { return testing::make_cpu_device({.cpu_threads = 1}); }

Device shuffled_device(std::uint32_t threads, std::uint64_t seed) {
  return testing::make_cpu_device({.shuffle_seed = seed, .cpu_threads = threads});
}

// ---- schedule checkers ------------------------------------------------------------------------

// Where each step lands in a recording of the program, `inserted` marking the dispatches that get
// a barrier node right before them (explicit or inferred; none when null).
struct Layout {
  std::vector<std::optional<std::size_t>> node_of_step;  // null: a barrier that records nothing
  std::vector<std::optional<std::size_t>> step_of_node;  // the dispatch nodes' steps
  std::size_t nodes = 0;
};

Layout layout_of(const Program& p, const std::vector<bool>* inserted) {
  Layout l;
  bool dispatched = false;
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    if (p.steps[i].kind == StepKind::Barrier) {
      // barrier() before the first dispatch is a no-op.
      l.node_of_step.push_back(dispatched ? std::optional<std::size_t>(l.nodes++) : std::nullopt);
      l.step_of_node.resize(l.nodes);
      continue;
    }
    if (inserted != nullptr && (*inserted)[i]) ++l.nodes;
    l.node_of_step.push_back(l.nodes);
    l.step_of_node.resize(l.nodes + 1);
    l.step_of_node[l.nodes++] = i;
    dispatched = true;
  }
  return l;
}

// reach[i][j]: node j must finish before node i starts, by the documented semantics: a dispatch
// runs after its dependencies and its barrier_before; a barrier runs after every node since the
// previous barrier and after that barrier.
std::vector<std::vector<bool>> reachability(const Recording& rec) {
  const std::size_t n = rec.node_count();
  std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
  std::optional<std::size_t> last_barrier;
  for (std::size_t i = 0; i < n; ++i) {
    const NodeInfo info = rec.node(i);
    std::vector<std::size_t> preds;
    if (info.kind == NodeKind::Dispatch) {
      for (const Dependency& d : info.dependencies) preds.push_back(d.node);
      if (info.barrier_before) preds.push_back(*info.barrier_before);
    } else {
      const std::size_t group_start = last_barrier ? *last_barrier + 1 : 0;
      for (std::size_t j = group_start; j < i; ++j) preds.push_back(j);
      if (last_barrier) preds.push_back(*last_barrier);
      last_barrier = i;
    }
    for (std::size_t p : preds) {
      if (p >= i) continue;  // a forward "edge" orders nothing before node i
      reach[i][p] = true;
      for (std::size_t k = 0; k < n; ++k) {
        if (reach[p][k]) reach[i][k] = true;
      }
    }
  }
  return reach;
}

// Empty when every pair of conflicting dispatch steps is ordered in `rec`; else the first
// unordered pair. `inserted` as for layout_of.
std::string unordered_conflict(const Program& p, const Recording& rec,
                               const std::vector<bool>* inserted = nullptr) {
  const Layout l = layout_of(p, inserted);
  if (l.nodes != rec.node_count()) {
    return "recording has " + std::to_string(rec.node_count()) + " nodes, the program " +
           std::to_string(l.nodes);
  }
  const auto reach = reachability(rec);
  for (std::size_t j = 0; j < p.steps.size(); ++j) {
    if (p.steps[j].kind == StepKind::Barrier) continue;
    for (std::size_t i = 0; i < j; ++i) {
      if (p.steps[i].kind == StepKind::Barrier || !steps_conflict(p.steps[i], p.steps[j])) continue;
      if (!reach[*l.node_of_step[j]][*l.node_of_step[i]]) {
        return "steps " + std::to_string(i) + " and " + std::to_string(j) +
               " conflict but nothing orders node " + std::to_string(*l.node_of_step[i]) +
               " before node " + std::to_string(*l.node_of_step[j]);
      }
    }
  }
  return {};
}

// Empty when `d`, a dependency recorded for the dispatch of step `later` (on the dispatch itself
// or on the inferred barrier right before it), joins two dispatches that really conflict on the
// buffer and the byte ranges it names, in the roles its kind says.
std::string bogus_edge(const Program& p, const std::vector<Buffer>& buffers, const Layout& l,
                       std::size_t later, const Dependency& d) {
  const std::string where = "edge from node " + std::to_string(d.node) + " to step " +
                            std::to_string(later) + " (" + std::string(to_string(d.kind)) + "): ";
  if (d.node >= l.step_of_node.size() || !l.step_of_node[d.node]) {
    return where + "its source is not a dispatch";
  }
  const std::size_t earlier = *l.step_of_node[d.node];
  if (earlier >= later) return where + "its source does not precede the dispatch";
  const bool raw = d.kind == DependencyKind::ReadAfterWrite;
  const bool war = d.kind == DependencyKind::WriteAfterRead;
  const bool waw = d.kind == DependencyKind::WriteAfterWrite;
  if (!raw && !war && !waw) return where + "it is not a hazard";
  int buffer = -1;
  for (std::size_t b = 0; b < buffers.size(); ++b) {
    if (buffers[b].id() == d.buffer) buffer = static_cast<int>(b);
  }
  if (buffer < 0) return where + "it names buffer id " + std::to_string(d.buffer);
  // The earlier access reads (WAR) or writes (RAW, WAW); the later one reads (RAW) or writes.
  const auto covers = [&](std::size_t step, ByteRange range, bool need_read) {
    for (const ByteAccess& a : accesses_of(p.steps[step])) {
      if (a.buffer == buffer && (need_read ? a.read : a.write) && a.begin <= range.begin &&
          range.end <= a.end) {
        return true;
      }
    }
    return false;
  };
  if (d.earlier.empty() || !covers(earlier, d.earlier, war)) {
    return where + "its earlier range is no access of step " + std::to_string(earlier);
  }
  if (d.later.empty() || !covers(later, d.later, raw)) {
    return where + "its later range is no access of step " + std::to_string(later);
  }
  if (!share_bytes(d.earlier.begin, d.earlier.end, d.later.begin, d.later.end)) {
    return where + "its ranges share no byte";
  }
  return {};
}

// Empty when every dependency recorded on a dispatch of `rec` is a real conflict.
std::string first_bogus_edge(const Program& p, const std::vector<Buffer>& buffers,
                             const Recording& rec) {
  const Layout l = layout_of(p, nullptr);
  if (l.nodes != rec.node_count()) return "node count differs from the program's";
  for (std::size_t s = 0; s < p.steps.size(); ++s) {
    if (p.steps[s].kind == StepKind::Barrier) continue;
    for (const Dependency& d : rec.node(*l.node_of_step[s]).dependencies) {
      std::string bad = bogus_edge(p, buffers, l, s, d);
      if (!bad.empty()) return bad;
    }
  }
  return {};
}

// Empty when the recording's nodes are those of the program with the oracle's barriers as
// inferred barriers: same kinds at the same positions, barriers flagged inferred exactly there.
std::string node_sequence_mismatch(const Program& p, const std::vector<bool>& inserted,
                                   const Recording& rec) {
  struct Expected {
    NodeKind kind;
    bool inferred;
    std::size_t step;
  };
  std::vector<Expected> want;
  bool dispatched = false;
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    if (p.steps[i].kind == StepKind::Barrier) {
      if (dispatched) want.push_back({NodeKind::Barrier, false, i});
      continue;
    }
    if (inserted[i]) want.push_back({NodeKind::Barrier, true, i});
    want.push_back({NodeKind::Dispatch, false, i});
    dispatched = true;
  }
  for (std::size_t n = 0; n < want.size() && n < rec.node_count(); ++n) {
    const NodeInfo info = rec.node(n);
    if (info.kind != want[n].kind || info.inferred != want[n].inferred) {
      return "node " + std::to_string(n) + " is " + (info.inferred ? "an inferred " : "a ") +
             std::string(to_string(info.kind)) + "; the oracle expects " +
             (want[n].inferred ? "an inferred " : "a ") + std::string(to_string(want[n].kind)) +
             " for step " + std::to_string(want[n].step);
    }
  }
  if (rec.node_count() != want.size()) {
    return "recording has " + std::to_string(rec.node_count()) + " nodes; the oracle expects " +
           std::to_string(want.size());
  }
  return {};
}

// Empty when each inferred barrier records one hazard: between the dispatch right after it and a
// dispatch of the group it closes, on bytes both really touch.
std::string bogus_inferred_barrier(const Program& p, const std::vector<bool>& inserted,
                                   const std::vector<Buffer>& buffers, const Recording& rec) {
  const Layout l = layout_of(p, &inserted);
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    if (p.steps[i].kind == StepKind::Barrier || !inserted[i]) continue;
    const NodeInfo barrier = rec.node(*l.node_of_step[i] - 1);
    if (barrier.dependencies.size() != 1) {
      return "inferred barrier before step " + std::to_string(i) + " records " +
             std::to_string(barrier.dependencies.size()) + " hazards instead of 1";
    }
    std::string bad = bogus_edge(p, buffers, l, i, barrier.dependencies[0]);
    if (!bad.empty()) return "inferred barrier before step " + std::to_string(i) + ": " + bad;
    // The hazard's source must lie in the group the barrier closes (after the previous barrier).
    const std::size_t source = barrier.dependencies[0].node;
    if (barrier.barrier_before && source < *barrier.barrier_before) {
      return "inferred barrier before step " + std::to_string(i) + " blames node " +
             std::to_string(source) + ", which an earlier barrier already orders";
    }
  }
  return {};
}

// A Recording of the program on fresh buffers (kept alive with it).
struct Recorded {
  std::vector<Buffer> buffers;
  Recording recording;
};

Recorded record(Device& device, const Program& p, Ordering ordering,
                const std::vector<bool>* inserted = nullptr) {
  Recorded r{make_buffers(device, p), {}};
  Encoder enc = device.encoder({.ordering = ordering});
  testing::encode(device, enc, p, r.buffers, inserted);
  r.recording = enc.finish();
  return r;
}

// ---- properties -------------------------------------------------------------------------------

// Barriers (with the oracle's barriers), auto_barrier and auto_dag all give the serial result on
// a shuffled 1-thread device and on a shuffled 4-thread device, committed and replayed.
TEST(OrderingProperty, EveryOrderingGivesTheSerialResultUnderAnySchedule) {
  Device reference = serial_device();
  Device wide = shuffled_device(4, 0xC0FFEE);
  const bool ok = rc::check("orderings match serial", [&] {
    const Program p = *gen_program();
    const std::uint64_t seed = *rc::gen::arbitrary<std::uint64_t>();
    const std::vector<bool> inserted = oracle_barriers(p);
    RC_TAG(std::to_string(p.steps.size() / 10 * 10) + "+ steps",
           has_inserted_barrier(p) ? "conflicting" : "conflict-free");
    const Contents want = testing::run(reference, p, {.ordering = Ordering::Serial});
    Device narrow = shuffled_device(1, seed);
    struct Mode {
      const char* name;
      Ordering ordering;
      const std::vector<bool>* inserted;
    };
    const Mode modes[] = {{"barriers+oracle", Ordering::Barriers, &inserted},
                          {"auto_barrier", Ordering::AutoBarrier, nullptr},
                          {"auto_dag", Ordering::AutoDag, nullptr}};
    for (const Mode& m : modes) {
      // On the 1-thread device the auto modes go through a Recording (finish, then submit).
      const Submit how = m.inserted == nullptr ? Submit::Recording : Submit::Commit;
      const std::string narrow_diff = first_difference(
          testing::run(narrow, p, {.ordering = m.ordering}, m.inserted, how), want);
      if (!narrow_diff.empty()) {
        RC_FAIL(std::string(m.name) + ", 1 thread, shuffled: " + narrow_diff);
      }
      const std::string wide_diff =
          first_difference(testing::run(wide, p, {.ordering = m.ordering}, m.inserted), want);
      if (!wide_diff.empty()) {
        RC_FAIL(std::string(m.name) + ", 4 threads, shuffled: " + wide_diff);
      }
    }
  });
  EXPECT_TRUE(ok);
}

// auto_barrier records its inferred barriers exactly where the greedy oracle puts them (and the
// explicit ones where the program has them), each naming a real hazard.
TEST(OrderingProperty, AutoBarrierInsertsBarriersExactlyWhereTheGreedyOracleDoes) {
  Device device = serial_device();
  const bool ok = rc::check("auto_barrier positions", [&] {
    const Program p = *gen_program();
    const std::vector<bool> inserted = oracle_barriers(p);
    const Recorded r = record(device, p, Ordering::AutoBarrier);
    const std::string mismatch = node_sequence_mismatch(p, inserted, r.recording);
    if (!mismatch.empty()) RC_FAIL(mismatch + "\n" + r.recording.to_string());
    const std::string bogus = bogus_inferred_barrier(p, inserted, r.buffers, r.recording);
    if (!bogus.empty()) RC_FAIL(bogus + "\n" + r.recording.to_string());
  });
  EXPECT_TRUE(ok);
}

// auto_dag's recorded graph (edges plus barrier ordering) orders every conflicting pair of
// dispatches, and each of its edges joins two dispatches that conflict on the named bytes.
TEST(OrderingProperty, AutoDagOrdersEveryConflictAndRecordsOnlyRealConflicts) {
  Device device = serial_device();
  const bool ok = rc::check("auto_dag graph", [&] {
    const Program p = *gen_program();
    const Recorded r = record(device, p, Ordering::AutoDag);
    const std::vector<bool> none(p.steps.size(), false);
    const std::string shape = node_sequence_mismatch(p, none, r.recording);
    if (!shape.empty()) RC_FAIL(shape + "\n" + r.recording.to_string());
    const std::string unordered = unordered_conflict(p, r.recording);
    if (!unordered.empty()) RC_FAIL(unordered + "\n" + r.recording.to_string());
    const std::string bogus = first_bogus_edge(p, r.buffers, r.recording);
    if (!bogus.empty()) RC_FAIL(bogus + "\n" + r.recording.to_string());
  });
  EXPECT_TRUE(ok);
}

// ---- negative controls ------------------------------------------------------------------------

// The first `count` generated programs (deterministic: fixed generator seeds) that satisfy `keep`.
template <class Keep>
std::vector<Program> sample_programs(std::size_t count, Keep&& keep) {
  std::vector<Program> out;
  const rc::Gen<Program> gen = gen_program();
  for (std::uint64_t seed = 1; out.size() < count && seed < 100 * count; ++seed) {
    Program p = gen(rc::Random(seed), 100).value();
    if (keep(p)) out.push_back(std::move(p));
  }
  return out;
}

// The differential harness can fail: without the oracle's barriers, Barriers mode on a shuffled
// 1-thread device gives a result other than the serial one for some conflicting program.
TEST(OrderingHarness, DroppingTheOracleBarriersChangesSomeResult) {
  Device reference = serial_device();
  Device narrow = shuffled_device(1, 0x5EED);
  const std::vector<Program> programs = sample_programs(200, has_inserted_barrier);
  ASSERT_EQ(programs.size(), 200U);
  int differing = 0;
  for (const Program& p : programs) {
    const Contents want = testing::run(reference, p, {.ordering = Ordering::Serial});
    if (!first_difference(testing::run(narrow, p, {.ordering = Ordering::Barriers}), want).empty())
      ++differing;
  }
  ::testing::Test::RecordProperty("programs_differing", differing);
  EXPECT_GT(differing, 0) << "no program of 200 exposed the missing barriers";
}

// The DAG checker can fail: a Barriers recording without the oracle's barriers leaves the
// conflicting pairs of every conflicting program unordered, and the checker says so.
TEST(OrderingHarness, GraphCheckerRejectsARecordingWithoutTheNeededBarriers) {
  Device device = serial_device();
  const std::vector<Program> programs = sample_programs(200, has_inserted_barrier);
  ASSERT_EQ(programs.size(), 200U);
  for (const Program& p : programs) {
    const Recorded r = record(device, p, Ordering::Barriers);
    EXPECT_FALSE(unordered_conflict(p, r.recording).empty());
    // With the oracle's barriers the same checker is satisfied.
    const std::vector<bool> inserted = oracle_barriers(p);
    const Recorded fixed = record(device, p, Ordering::Barriers, &inserted);
    EXPECT_EQ(unordered_conflict(p, fixed.recording, &inserted), "");
  }
}

// The edge checker can fail: serial ordering records program-order edges, which name no hazard,
// and the checker rejects them.
TEST(OrderingHarness, EdgeCheckerRejectsProgramOrderEdges) {
  Device device = serial_device();
  const std::vector<Program> programs = sample_programs(50, [](const Program& p) {
    int dispatches = 0;
    for (const Step& s : p.steps) dispatches += s.kind == StepKind::Barrier ? 0 : 1;
    return dispatches >= 2 && p.steps[0].kind != StepKind::Barrier &&
           p.steps[1].kind != StepKind::Barrier;
  });
  ASSERT_EQ(programs.size(), 50U);
  for (const Program& p : programs) {
    const Recorded r = record(device, p, Ordering::Serial);
    EXPECT_NE(first_bogus_edge(p, r.buffers, r.recording), "");
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
