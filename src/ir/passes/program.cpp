#include "ir/passes/program.h"

#include <string>

#include "encore/error.h"

#include "core/allocation.h"
#include "core/hazard_tracker.h"

namespace encore::detail {

std::string PassProgram::describe(std::uint32_t id) const {
  const NodeOrigin& o = origins[id];
  if (o.second == kNoNode) return input->describe_node(o.first);
  std::string out = "fused dispatch";
  const std::string_view name = label(id);
  if (!name.empty()) out += " '" + std::string(name) + "'";
  out += " (kernel " + nodes[id].kernel->name + ", of #" + std::to_string(o.first) + " and #" +
         std::to_string(o.second) + ")";
  return out;
}

void build_program(const CommandList& list, PassProgram& p) {
  p.input = &list;
  p.ordering = list.ordering;
  p.nodes.assign(list.nodes.begin(), list.nodes.end());
  const std::size_t n = list.nodes.size();
  p.origins.resize(n);
  p.recomputable.assign(n, 0);
  p.barrier_reason.clear();
  p.fused_args.clear();
  p.labels = list.label_arena;
  p.sequence.clear();
  p.sequence.reserve(n);
  p.graph_valid = false;
  p.reduce_edges = false;
  p.untagged_node = kNoNode;
  for (std::uint32_t i = 0; i < n; ++i) {
    const Node& node = list.nodes[i];
    p.origins[i] = {i, kNoNode};
    if (node.kind == NodeKind::Barrier) {
      // Inferred barriers are derived ordering, like auto_dag edges: materialize recomputes them.
      if (node.inferred) continue;
      p.recomputable[i] = list.ordering == Ordering::Barriers ? 1 : 0;
    } else if (p.untagged_node == kNoNode) {
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
  // An auto_dag list without barriers already holds such a graph: the encoder's edges (the
  // tracker's conflicts, minus edges another edge's source implies directly).
  if (list.ordering == Ordering::AutoDag && list.barrier_count == 0) {
    p.graph.storage.clear();
    p.graph.preds.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) p.graph.preds[i] = list.node_deps(list.nodes[i]);
    p.graph_valid = true;
  }
}

void require_complete_annotation(const PassProgram& p, Pass pass) {
  if (p.untagged_node == kNoNode) return;
  const KernelDef& def = *p.nodes[p.untagged_node].kernel;
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

void ensure_hazard_graph(PassProgram& p) {
  if (p.graph_valid) return;
  HazardGraph& g = p.graph;
  g.storage.clear();
  g.preds.assign(p.nodes.size(), {});
  std::vector<std::uint32_t> begin(p.nodes.size(), 0);
  std::vector<std::uint32_t> mark(p.nodes.size(), kNoNode);
  std::vector<Hazard> hazards;
  HazardTracker tracker;
  for (std::uint32_t id : p.sequence) {
    if (p.nodes[id].kind != NodeKind::Dispatch) continue;
    hazards.clear();
    for (const BoundArg& a : p.args(id)) {
      if (a.kind != Arg::Kind::Buffer) continue;
      tracker.access(id, {a.resource, {a.offset, a.offset + a.size}, writes(a.access)}, hazards);
    }
    begin[id] = static_cast<std::uint32_t>(g.storage.size());
    for (const Hazard& h : hazards) {
      if (mark[h.node] == id) continue;  // one edge per earlier node: the first hazard names it
      mark[h.node] = id;
      g.storage.push_back({h.node, h.kind, p.input->resources[h.resource]->id, h.earlier, h.later});
    }
  }
  // Spans last, once the storage no longer moves: each dispatch's edges end where the next
  // dispatch's begin.
  std::uint32_t previous = kNoNode;
  for (std::uint32_t id : p.sequence) {
    if (p.nodes[id].kind != NodeKind::Dispatch) continue;
    if (previous != kNoNode) {
      g.preds[previous] = std::span<const Dependency>(g.storage).subspan(
          begin[previous], begin[id] - begin[previous]);
    }
    previous = id;
  }
  if (previous != kNoNode) {
    g.preds[previous] = std::span<const Dependency>(g.storage).subspan(
        begin[previous], g.storage.size() - begin[previous]);
  }
  p.graph_valid = true;
}

bool nodes_conflict(const PassProgram& p, std::uint32_t a, std::uint32_t b) {
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
