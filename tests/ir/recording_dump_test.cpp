// Recording dumps explain the schedule: to_string() lists every node with its kernel, label, op
// and args (buffer ids and byte ranges), every dependency with its reason, and why each inferred
// barrier exists; to_dot() is a Graphviz digraph with one node per recording node, labelled
// solid edges for dependencies and dashed edges for barrier ordering, with quotes escaped.

#include <cstddef>
#include <cstdint>
#include <gtest/gtest.h>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "encore/encore.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::cover;
using testing::make_cpu_device;
using testing::mentions;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  return lines;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The to_string() lines of node `index`: its "#index ..." line and the indented lines after it.
std::vector<std::string> node_block(const std::string& dump, std::size_t index) {
  const std::vector<std::string> lines = lines_of(dump);
  const std::string head = "#" + std::to_string(index) + " ";
  std::vector<std::string> block;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!starts_with(lines[i], head)) {
      continue;
    }
    block.push_back(lines[i]);
    for (std::size_t j = i + 1; j < lines.size() && starts_with(lines[j], " "); ++j) {
      block.push_back(lines[j]);
    }
    break;
  }
  return block;
}

// The first line of `lines` that mentions every one of `parts`, or "" when none does.
std::string line_with(const std::vector<std::string>& lines,
                      std::initializer_list<std::string_view> parts) {
  for (const std::string& line : lines) {
    bool all = true;
    for (std::string_view part : parts) {
      all = all && line.find(part) != std::string::npos;
    }
    if (all) {
      return line;
    }
  }
  return "";
}

std::string buf(const Buffer& b) { return "buf#" + std::to_string(b.id()); }

// A recording with a dependency, an explicit barrier, an op override, a slot and an extra range:
//   #0 fill_f32 'init'  writes x
//   #1 copy_f32 'dup'   reads x[4, 12): RAW after #0, writes y[0, 8)
//   #2 barrier (explicit)
//   #3 scale_f32 'norm' (op RmsNorm) reads y, writes z, slot 'alpha', extra read of x
struct DumpFixture {
  DumpFixture() {
    x = dev.alloc(16, "x");
    y = dev.alloc(8, "y");
    z = dev.alloc(8, "z");
    Encoder enc = dev.encoder({.ordering = Ordering::AutoDag, .label = "step"});
    enc.dispatch(dev.kernel("fill_f32"), cover(4), {out(x), value(1.0F), value(4U)},
                 {.label = "init"});
    enc.dispatch(dev.kernel("copy_f32"), cover(2), {in(x.view(4, 8)), out(y), value(2U)},
                 {.label = "dup"});
    enc.barrier();
    const BufferView extra[] = {x};
    enc.dispatch(dev.kernel("scale_f32"), Launch::groups(1, 32).shared(128),
                 {in(y), out(z), slot("alpha", 2.0F), value(2U)},
                 {.op = OpKind::RmsNorm, .label = "norm", .extra_reads = extra});
    rec = enc.finish();
  }
  Device dev = make_cpu_device();
  Buffer x, y, z;
  Recording rec;
};

// ---- to_string -----------------------------------------------------------------------------

// The header names the recording's label, node, dispatch, barrier and edge counts and ordering,
// and there is exactly one "#i" line per node.
TEST(RecordingDump, ToStringHasAHeaderAndOneLinePerNode) {
  DumpFixture f;
  const std::string dump = f.rec.to_string();
  const std::vector<std::string> lines = lines_of(dump);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(mentions(lines[0], "'step'"));
  EXPECT_TRUE(mentions(lines[0], "4 nodes"));
  EXPECT_TRUE(mentions(lines[0], "3 dispatches"));
  EXPECT_TRUE(mentions(lines[0], "1 barriers"));
  EXPECT_TRUE(mentions(lines[0], "1 edges"));
  EXPECT_TRUE(mentions(lines[0], "auto_dag"));
  std::size_t node_lines = 0;
  for (const std::string& line : lines) {
    node_lines += starts_with(line, "#");
  }
  EXPECT_EQ(node_lines, f.rec.node_count()) << dump;
  for (std::size_t i = 0; i < f.rec.node_count(); ++i) {
    EXPECT_FALSE(node_block(dump, i).empty()) << "no line for node " << i << "\n" << dump;
  }
}

// Each dispatch line names the kernel, the dispatch label and the op kind (the override where
// one was given), and the launch.
TEST(RecordingDump, ToStringNamesKernelLabelAndOp) {
  DumpFixture f;
  const std::string dump = f.rec.to_string();
  const std::string first = node_block(dump, 0).at(0);
  EXPECT_TRUE(mentions(first, "fill_f32"));
  EXPECT_TRUE(mentions(first, "'init'"));
  EXPECT_TRUE(mentions(first, "Fill"));
  const std::string second = node_block(dump, 1).at(0);
  EXPECT_TRUE(mentions(second, "copy_f32"));
  EXPECT_TRUE(mentions(second, "'dup'"));
  EXPECT_TRUE(mentions(second, "Copy"));
  const std::string fourth = node_block(dump, 3).at(0);
  EXPECT_TRUE(mentions(fourth, "scale_f32"));
  EXPECT_TRUE(mentions(fourth, "'norm'"));
  EXPECT_TRUE(mentions(fourth, "RmsNorm"));
  EXPECT_FALSE(mentions(fourth, "ElemScale"));
  EXPECT_TRUE(mentions(fourth, "128"));  // shared memory bytes
}

// Args list each buffer with its access, allocation id and byte range (the view's, not the
// whole buffer's), values by size, slots by name, and extra ranges marked as such.
TEST(RecordingDump, ToStringListsArgsWithBufferIdsAndRanges) {
  DumpFixture f;
  const std::string dump = f.rec.to_string();
  const std::vector<std::string> fill = node_block(dump, 0);
  EXPECT_NE(line_with(fill, {"out", buf(f.x), "[0, 16)"}), "") << dump;
  EXPECT_NE(line_with(fill, {"value", "4 bytes"}), "") << dump;

  const std::vector<std::string> copy = node_block(dump, 1);
  EXPECT_NE(line_with(copy, {"in", buf(f.x), "[4, 12)"}), "") << dump;
  EXPECT_NE(line_with(copy, {"out", buf(f.y), "[0, 8)"}), "") << dump;

  const std::vector<std::string> scale = node_block(dump, 3);
  EXPECT_NE(line_with(scale, {"slot 'alpha'"}), "") << dump;
  EXPECT_NE(line_with(scale, {"extra", buf(f.x), "[0, 16)"}), "") << dump;
  EXPECT_NE(line_with(scale, {"out", buf(f.z), "[0, 8)"}), "") << dump;
}

// Each dependency is listed under the node that waits, with the earlier node, the reason, the
// buffer and both byte ranges; an explicit barrier says it is explicit.
TEST(RecordingDump, ToStringExplainsEachDependency) {
  DumpFixture f;
  const std::string dump = f.rec.to_string();
  const std::string dependency =
      line_with(node_block(dump, 1), {"#0", "RAW", buf(f.x), "[0, 16)", "[4, 12)"});
  EXPECT_NE(dependency, "") << dump;
  EXPECT_EQ(line_with(node_block(dump, 0), {"RAW"}), "") << "the first node depends on nothing";
  EXPECT_EQ(line_with(node_block(dump, 3), {"RAW"}), "") << "the barrier orders node 3";
  const std::string barrier = node_block(dump, 2).at(0);
  EXPECT_TRUE(mentions(barrier, "barrier"));
  EXPECT_TRUE(mentions(barrier, "explicit"));
}

// An inferred barrier states why it exists: the hazard's kind, buffer, both ranges and the
// earlier node.
TEST(RecordingDump, ToStringExplainsInferredBarriers) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "x");
  Buffer y = dev.alloc(8, "y");
  Encoder enc = dev.encoder({.ordering = Ordering::AutoBarrier});
  enc.dispatch(dev.kernel("fill_f32"), cover(4), {out(x), value(1.0F), value(4U)});
  enc.dispatch(dev.kernel("copy_f32"), cover(2), {in(x.view(4, 8)), out(y), value(2U)});
  const Recording rec = enc.finish();
  ASSERT_EQ(rec.node_count(), 3U);

  const std::string dump = rec.to_string();
  const std::string barrier = node_block(dump, 1).at(0);
  EXPECT_TRUE(mentions(barrier, "barrier"));
  EXPECT_TRUE(mentions(barrier, "inferred"));
  EXPECT_TRUE(mentions(barrier, "RAW"));
  EXPECT_TRUE(mentions(barrier, buf(x)));
  EXPECT_TRUE(mentions(barrier, "[0, 16)"));
  EXPECT_TRUE(mentions(barrier, "[4, 12)"));
  EXPECT_TRUE(mentions(barrier, "#0"));
}

// Every dependency kind has its name in the dump: WAR, WAW and serial program order.
TEST(RecordingDump, ToStringNamesEveryDependencyKind) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "x");
  Buffer y = dev.alloc(16, "y");
  const Kernel fill = dev.kernel("fill_f32");
  const Kernel copy = dev.kernel("copy_f32");

  Encoder hazards = dev.encoder();
  hazards.dispatch(copy, cover(4), {in(x), out(y), value(4U)});
  hazards.dispatch(fill, cover(4), {out(x), value(1.0F), value(4U)});  // WAR on x
  hazards.dispatch(fill, cover(4), {out(x), value(2.0F), value(4U)});  // WAW on x
  const std::string dag = hazards.finish().to_string();
  EXPECT_NE(line_with(node_block(dag, 1), {"#0", "WAR", buf(x)}), "") << dag;
  EXPECT_NE(line_with(node_block(dag, 2), {"#1", "WAW", buf(x)}), "") << dag;

  Encoder serial = dev.encoder({.ordering = Ordering::Serial});
  serial.dispatch(fill, cover(4), {out(x), value(1.0F), value(4U)});
  serial.dispatch(fill, cover(4), {out(y), value(1.0F), value(4U)});
  const std::string ordered = serial.finish().to_string();
  EXPECT_NE(line_with(node_block(ordered, 1), {"#0", "program-order"}), "") << ordered;
}

// A null recording dumps as empty rather than failing.
TEST(RecordingDump, EmptyRecordingDumps) {
  const Recording none;
  EXPECT_TRUE(mentions(none.to_string(), "empty"));
  const std::string dot = none.to_dot();
  EXPECT_TRUE(starts_with(dot, "digraph"));
  EXPECT_FALSE(mentions(dot, "->"));
}

// ---- to_dot --------------------------------------------------------------------------------

// Reads "n<digits>" at `at` in `line`; returns the position after it, or npos.
std::size_t skip_node_id(const std::string& line, std::size_t at) {
  if (at >= line.size() || line[at] != 'n') return std::string::npos;
  std::size_t end = at + 1;
  while (end < line.size() && line[end] >= '0' && line[end] <= '9') ++end;
  return end == at + 1 ? std::string::npos : end;
}

// Node statements ("  n3 [label=...];"); labels may contain "->" themselves, so statements are
// told apart by what follows the node id.
std::vector<std::string> node_statements(const std::string& dot) {
  std::vector<std::string> out;
  for (const std::string& line : lines_of(dot)) {
    const std::size_t id_end = skip_node_id(line, line.find_first_not_of(" \t"));
    if (id_end != std::string::npos && line.compare(id_end, 2, " [") == 0) out.push_back(line);
  }
  return out;
}

// Edge statements ("  n0 -> n1 [...];").
std::vector<std::string> edge_statements(const std::string& dot) {
  std::vector<std::string> out;
  for (const std::string& line : lines_of(dot)) {
    const std::size_t from_end = skip_node_id(line, line.find_first_not_of(" \t"));
    if (from_end == std::string::npos || line.compare(from_end, 4, " -> ") != 0) continue;
    const std::size_t to_end = skip_node_id(line, from_end + 4);
    if (to_end != std::string::npos && to_end < line.size() && line[to_end] == ' ') {
      out.push_back(line);
    }
  }
  return out;
}

// The edge statement "nA -> nB ...", or "" when there is none.
std::string edge(const std::string& dot, std::size_t from, std::size_t to) {
  const std::string head = "n" + std::to_string(from) + " -> n" + std::to_string(to) + " ";
  for (const std::string& line : edge_statements(dot)) {
    const std::size_t at = line.find_first_not_of(' ');
    if (at != std::string::npos && line.compare(at, head.size(), head) == 0) {
      return line;
    }
  }
  return "";
}

// Counts quotes not preceded by a backslash escape.
std::size_t unescaped_quotes(std::string_view line) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\') {
      ++i;  // skip the escaped character
    } else if (line[i] == '"') {
      ++n;
    }
  }
  return n;
}

// to_dot() is a digraph with exactly one node statement per recording node; barriers are boxes.
TEST(RecordingDump, DotHasOneNodePerRecordingNode) {
  DumpFixture f;
  const std::string dot = f.rec.to_dot();
  EXPECT_TRUE(starts_with(dot, "digraph"));
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  const std::vector<std::string> nodes = node_statements(dot);
  EXPECT_EQ(nodes.size(), f.rec.node_count()) << dot;
  for (std::size_t i = 0; i < f.rec.node_count(); ++i) {
    const std::string id = "n" + std::to_string(i) + " [";
    const std::string statement = line_with(nodes, {id});
    ASSERT_NE(statement, "") << "no statement for node " << i << "\n" << dot;
    EXPECT_EQ(mentions(statement, "shape=box"), f.rec.node(i).kind == NodeKind::Barrier)
        << statement;
  }
  EXPECT_TRUE(mentions(line_with(nodes, {"n3 ["}), "norm"));
  EXPECT_TRUE(mentions(line_with(nodes, {"n3 ["}), "scale_f32"));
}

// Recorded dependencies are solid edges labelled with their reason; ordering that comes from a
// barrier is a dashed edge (into the barrier from its group, out of it to the next dispatch).
TEST(RecordingDump, DotDrawsDependenciesSolidAndBarrierOrderingDashed) {
  DumpFixture f;
  const std::string dot = f.rec.to_dot();
  const std::string raw = edge(dot, 0, 1);
  ASSERT_NE(raw, "") << dot;
  EXPECT_TRUE(mentions(raw, "label="));
  EXPECT_TRUE(mentions(raw, "RAW"));
  EXPECT_TRUE(mentions(raw, buf(f.x)));
  EXPECT_FALSE(mentions(raw, "dashed"));

  for (const auto& [from, to] : {std::pair{0, 2}, std::pair{1, 2}, std::pair{2, 3}}) {
    const std::string ordering = edge(dot, from, to);
    ASSERT_NE(ordering, "") << "no edge n" << from << " -> n" << to << "\n" << dot;
    EXPECT_TRUE(mentions(ordering, "dashed"));
  }
  std::size_t labelled = 0;
  for (const std::string& line : edge_statements(dot)) {
    labelled += mentions(line, "label=");
  }
  EXPECT_EQ(labelled, f.rec.edge_count()) << dot;
  EXPECT_EQ(edge(dot, 0, 3), "") << "node 3 is ordered through the barrier only";
}

// Inferred barriers carry their reason in the graph as well.
TEST(RecordingDump, DotLabelsInferredBarriersWithTheirReason) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "x");
  Encoder enc = dev.encoder({.ordering = Ordering::AutoBarrier});
  enc.dispatch(dev.kernel("fill_f32"), cover(4), {out(x), value(1.0F), value(4U)});
  enc.dispatch(dev.kernel("fill_f32"), cover(4), {out(x), value(2.0F), value(4U)});
  const std::string dot = enc.finish().to_dot();
  const std::string barrier = line_with(node_statements(dot), {"n1 ["});
  EXPECT_TRUE(mentions(barrier, "shape=box"));
  EXPECT_TRUE(mentions(barrier, "inferred"));
  EXPECT_TRUE(mentions(barrier, "WAW"));
  EXPECT_TRUE(mentions(edge(dot, 0, 1), "dashed"));
  EXPECT_TRUE(mentions(edge(dot, 1, 2), "dashed"));
}

// Quotes and backslashes in dispatch and buffer labels are escaped, so every line keeps its
// string literals balanced and no raw quote from a label leaks into the DOT.
TEST(RecordingDump, DotEscapesQuotesInLabels) {
  Device dev = make_cpu_device();
  Buffer x = dev.alloc(16, "q\"buf");
  Buffer y = dev.alloc(16, "y");
  Encoder enc = dev.encoder({.label = "cb \"main\""});
  enc.dispatch(dev.kernel("fill_f32"), cover(4), {out(x), value(1.0F), value(4U)},
               {.label = "say \"hi\""});
  enc.dispatch(dev.kernel("copy_f32"), cover(4), {in(x), out(y), value(4U)},
               {.label = "back\\slash"});
  const std::string dot = enc.finish().to_dot();

  EXPECT_TRUE(mentions(dot, "say \\\"hi\\\"")) << dot;
  EXPECT_FALSE(mentions(dot, "say \"hi\"")) << dot;
  EXPECT_TRUE(mentions(dot, "q\\\"buf")) << dot;  // in the RAW edge's reason
  EXPECT_TRUE(mentions(dot, "back\\\\slash")) << dot;
  EXPECT_TRUE(mentions(dot, "cb \\\"main\\\"")) << dot;
  for (const std::string& line : lines_of(dot)) {
    EXPECT_EQ(unescaped_quotes(line) % 2, 0U) << line;
  }
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
