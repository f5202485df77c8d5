#include "ir/passes/program.h"

#include <string>

#include "encore/error.h"

#include "core/allocation.h"

namespace encore::detail {

std::string PassProgram::describe(std::uint32_t id) const {
  const NodeOrigin o = origin(id);
  if (o.second == kNoNode) return input->describe_node(o.first);
  std::string out = "fused dispatch";
  const std::string_view name = label(id);
  if (!name.empty()) out += " '" + std::string(name) + "'";
  out += " (kernel " + node(id).kernel->name + ", of #" + std::to_string(o.first) + " and #" +
         std::to_string(o.second) + ")";
  return out;
}

void PassProgram::add_masks(std::span<const BoundArg> node_args) {
  std::uint64_t r = 0;
  std::uint64_t w = 0;
  for (const BoundArg& a : node_args) {
    if (a.kind != Arg::Kind::Buffer) continue;
    if (reads(a.access)) r |= resource_bit(a.resource);
    if (writes(a.access)) w |= resource_bit(a.resource);
  }
  read_mask.push_back(r);
  write_mask.push_back(w);
}

void PassProgram::ensure_masks() {
  if (read_mask.size() == node_count()) return;
  read_mask.clear();
  write_mask.clear();
  read_mask.reserve(node_count() + node_count() / 4);
  write_mask.reserve(node_count() + node_count() / 4);
  for (std::uint32_t id = 0; id < node_count(); ++id) add_masks(args(id));
}

RecordingShape shape_of(const CommandList& list) {
  RecordingShape s{list.dispatch_count, list.barrier_count, 0};
  for (const Node& n : list.nodes) {
    if (n.kind == NodeKind::Dispatch) s.edges += n.deps_count;
  }
  return s;
}

void build_program(const CommandList& list, PassProgram& p) {
  p.input = &list;
  p.ordering = list.ordering;
  p.fused.clear();
  p.fused_origins.clear();
  p.fused_args.clear();
  p.labels = list.label_arena;
  p.sequence.clear();
  p.barrier_reason.clear();
  p.reduce_edges = false;
  p.untagged_node = kNoNode;
  const auto n = static_cast<std::uint32_t>(list.nodes.size());
  p.marks.assign(n, kNoNode);
  p.sequence.reserve(n);
  p.read_mask.clear();
  p.write_mask.clear();
  p.input_edges = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const Node& node = list.nodes[i];
    if (node.kind == NodeKind::Barrier) {
      // Inferred barriers are derived ordering, like auto_dag edges: materialize recomputes them.
      if (!node.inferred) p.sequence.push_back(i);
      continue;
    }
    p.input_edges += node.deps_count;
    if (p.untagged_node == kNoNode) {
      const auto args = list.node_args(node);
      for (std::uint32_t a = 0; a < args.size(); ++a) {
        if (args[a].kind == Arg::Kind::Buffer && !args[a].tagged) {
          p.untagged_node = i;
          p.untagged_arg = a;
          break;
        }
      }
    }
    p.sequence.push_back(i);
  }
  HazardGraph& g = p.graph;
  g.storage.clear();
  g.ranges.clear();
  g.forward.assign(n, kNoNode);
  g.imported = list.ordering == Ordering::AutoDag;
  g.across_barriers = g.imported && list.barrier_count == 0;
  p.graph_valid = g.imported;
}

void require_complete_annotation(const PassProgram& p, Pass pass) {
  if (p.untagged_node == kNoNode) return;
  const KernelDef& def = *p.node(p.untagged_node).kernel;
  std::string param;
  if (p.untagged_arg < def.params.size()) param = " ('" + def.params[p.untagged_arg].name + "')";
  Error e(ErrorCode::InvalidArgument,
          "the " + std::string(to_string(pass)) +
              " pass needs every buffer arg tagged in/out/inout, but arg " +
              std::to_string(p.untagged_arg) + param + " of " +
              p.input->describe_node(p.untagged_node) +
              " is an untagged buffer(view): its accesses are unknown, so moving, fusing or "
              "unordering anything around it could be wrong");
  if (!p.input->label.empty()) e.add_context("command buffer '" + p.input->label + "'");
  throw e;
}

void ensure_hazard_graph(PassProgram& p, bool across_barriers) {
  if (p.graph_valid && (p.graph.across_barriers || !across_barriers)) return;
  HazardGraph& g = p.graph;
  g.imported = false;
  g.across_barriers = true;
  g.storage.clear();
  g.forward.assign(p.node_count(), kNoNode);
  g.ranges.assign(p.node_count(), {});
  p.marks.assign(p.node_count(), kNoNode);
  p.tracker.reset();
  for (std::uint32_t id : p.sequence) {
    if (p.node(id).kind != NodeKind::Dispatch) continue;
    p.hazards.clear();
    for (const BoundArg& a : p.args(id)) {
      if (a.kind != Arg::Kind::Buffer) continue;
      p.tracker.access(id, {a.resource, {a.offset, a.offset + a.size}, writes(a.access)},
                       p.hazards);
    }
    const auto begin = static_cast<std::uint32_t>(g.storage.size());
    for (const Hazard& h : p.hazards) {
      if (p.marks[h.node] == id) continue;  // one edge per earlier node: the first hazard names it
      p.marks[h.node] = id;
      g.storage.push_back({h.node, h.kind, p.input->resources[h.resource]->id, h.earlier, h.later});
    }
    g.ranges[id] = {begin, static_cast<std::uint32_t>(g.storage.size()) - begin};
  }
  p.graph_valid = true;
}

void fuse_in_graph(PassProgram& p, std::uint32_t a, std::uint32_t b, std::uint32_t f) {
  HazardGraph& g = p.graph;
  g.forward.resize(p.node_count(), kNoNode);
  if (!p.graph_valid) return;
  if (!g.across_barriers) {
    // Imported from an auto_dag list with barriers, the graph has no edges across them, which f
    // (in b's place) may need to a's hazards on the other side: compute it afresh when needed.
    p.graph_valid = false;
    return;
  }
  g.ranges.resize(p.node_count());
  p.marks.resize(p.node_count(), kNoNode);
  const auto begin = static_cast<std::uint32_t>(g.storage.size());
  for (const std::uint32_t part : {a, b}) {
    const std::span<const Dependency> edges = p.preds(part);
    for (std::size_t k = 0; k < edges.size(); ++k) {
      // Copied by index: storage may grow (and move) while edges of a fused part are appended.
      const Dependency d = p.preds(part)[k];
      const std::uint32_t from = p.rep(d.node);
      if (from == a || from == b || p.marks[from] == f) continue;
      p.marks[from] = f;
      g.storage.push_back(d);
    }
  }
  g.ranges[f] = {begin, static_cast<std::uint32_t>(g.storage.size()) - begin};
  g.forward[a] = f;
  g.forward[b] = f;
}

bool nodes_conflict(const PassProgram& p, std::uint32_t a, std::uint32_t b) {
  if (((p.write_mask[a] & (p.read_mask[b] | p.write_mask[b])) |
       (p.read_mask[a] & p.write_mask[b])) == 0) {
    return false;
  }
  const auto args_b = p.args(b);
  for (const BoundArg& x : p.args(a)) {
    if (x.kind != Arg::Kind::Buffer) continue;
    const ByteRange rx{x.offset, x.offset + x.size};
    for (const BoundArg& y : args_b) {
      if (y.kind != Arg::Kind::Buffer || y.resource != x.resource) continue;
      if ((writes(x.access) || writes(y.access)) && overlaps(rx, {y.offset, y.offset + y.size})) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace encore::detail
