#pragma once

// The form the recording passes work on, and the two conversions around it.
//
// Design note.
// A pass never edits a CommandList. `build_program` reads the input list into a Program: the
// sequence of its dispatches and explicit barriers, by node id. Ids below the input's node count
// are the input's nodes, read in place (nothing is copied per node or arg); a fused dispatch gets
// a new id, its node and args live in the program. What the ordering of the input was — dependency
// edges (auto_dag), inferred barriers (auto_barrier), the program-order chain (serial) — is not
// carried over: it is derived data, recomputed from byte ranges by `materialize` once the passes
// are done, with the same rules the encoder uses. Explicit barriers are kept as nodes; in a
// barriers-ordered recording they are the user's way of writing the ordering and are
// `recomputable` (reorder strips them and materialize infers barriers where hazards need them); in
// the other modes they are fences the passes respect.
//
// Every pass needs complete annotation: an untagged buffer arg hides what the dispatch does, so a
// program with one is refused (`require_complete_annotation`) before a pass runs.
//
// The HazardGraph holds, per dispatch, edges to earlier dispatches whose transitive closure covers
// every RAW/WAR/WAW pair of the sequence, each edge a hazard with its reason. An auto_dag input
// already holds one — the encoder's edges are the tracker's conflicts minus edges another edge's
// source implies — within each stretch between barriers, so it is imported as is; otherwise (or
// when minimize must see hazards across barriers) it is computed with the encoder's HazardTracker
// over the whole sequence, ignoring barriers. Edges name node ids, so the graph stays valid when
// reorder permutes the sequence without reordering a conflicting pair. Fusion patches it: the
// fused dispatch F takes the edges of both its parts, and every edge to a part now leads to F
// (`forward`, resolved by `rep`). An edge kept that way may name a hazard with the bytes F no
// longer touches; it still orders what that hazard ordered transitively (a write F dropped was
// the link between an earlier and a later writer), so it stays, with the reason it had.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "encore/passes.h"

#include "core/command_list.h"
#include "core/hazard_tracker.h"

namespace encore::detail {

struct HazardGraph {
  /// Edges of one node in `storage`.
  struct Range {
    std::uint32_t begin = 0;
    std::uint32_t count = 0;
  };
  /// Input node ids use the input's own deps (an auto_dag input).
  bool imported = false;
  /// The graph has the hazards across barriers too (computed, or imported without barriers).
  bool across_barriers = false;
  std::vector<Range> ranges;  ///< by id; for imported input nodes, their deps in the input
  std::vector<Dependency> storage;
  /// By id: the fused dispatch that replaced the node, or kNoNode (sized to the node count).
  std::vector<std::uint32_t> forward;
};

struct PassProgram {
  const CommandList* input = nullptr;
  Ordering ordering = Ordering::AutoDag;

  /// Fused dispatches: ids input_nodes(), input_nodes() + 1, ... `args_begin` indexes fused_args.
  std::vector<Node> fused;
  std::vector<NodeOrigin> fused_origins;
  std::vector<BoundArg> fused_args;
  /// The input's label arena followed by the labels of fused dispatches.
  std::string labels;

  /// Node ids in program order (dispatches and barriers).
  std::vector<std::uint32_t> sequence;

  /// By id (sized on first use): for an explicit barrier that minimize kept, the hazard across it
  /// (Dependency::node is the earlier dispatch's id); kind ProgramOrder when none was recorded.
  std::vector<Dependency> barrier_reason;

  HazardGraph graph;
  bool graph_valid = false;
  /// Set by minimize: materialize reduces dependency edges transitively.
  bool reduce_edges = false;

  /// By id, made by the fuse pass (`ensure_masks`): the allocations a node reads and writes, as
  /// bits (resource index mod 64). Disjoint masks prove two nodes share no allocation, which
  /// rejects most pairs without comparing args.
  std::vector<std::uint64_t> read_mask;
  std::vector<std::uint64_t> write_mask;

  /// Dependency edges of the input's dispatches (RecordingShape::edges), counted while reading.
  std::size_t input_edges = 0;

  /// First untagged buffer arg, if any (node id, arg index), found by build_program.
  std::uint32_t untagged_node = kNoNode;
  std::uint32_t untagged_arg = 0;

  /// Scratch kept between uses of the program (capacity only).
  HazardTracker tracker;
  std::vector<Hazard> hazards;
  std::vector<std::uint32_t> marks;

  std::uint32_t input_nodes() const { return static_cast<std::uint32_t>(input->nodes.size()); }
  std::uint32_t node_count() const {
    return input_nodes() + static_cast<std::uint32_t>(fused.size());
  }
  const Node& node(std::uint32_t id) const {
    return id < input_nodes() ? input->nodes[id] : fused[id - input_nodes()];
  }
  std::span<const BoundArg> args(std::uint32_t id) const {
    if (id < input_nodes()) return input->node_args(input->nodes[id]);
    const Node& n = fused[id - input_nodes()];
    return std::span<const BoundArg>(fused_args).subspan(n.args_begin, n.args_count);
  }
  NodeOrigin origin(std::uint32_t id) const {
    return id < input_nodes() ? NodeOrigin{id, kNoNode} : fused_origins[id - input_nodes()];
  }
  static std::uint64_t resource_bit(std::uint32_t resource) {
    return std::uint64_t{1} << (resource % 64);
  }
  /// Adds the masks of the next node id.
  void add_masks(std::span<const BoundArg> args);
  /// Makes the masks of every node so far, unless there are.
  void ensure_masks();

  /// A barrier that reorder may strip and materialize may replace (barriers ordering).
  bool recomputable(std::uint32_t id) const {
    return ordering == Ordering::Barriers && node(id).kind == NodeKind::Barrier;
  }
  std::string_view label(std::uint32_t id) const {
    const Node& n = node(id);
    return std::string_view(labels).substr(n.label_begin, n.label_size);
  }
  /// "dispatch #3 'blk.0.add' (kernel add_f32)" for the input node an id stands for; fused
  /// dispatches name both input nodes.
  std::string describe(std::uint32_t id) const;

  /// The hazard graph's edges of dispatch `id`; resolve each Dependency::node with rep().
  std::span<const Dependency> preds(std::uint32_t id) const {
    if (graph.imported && id < input_nodes()) return input->node_deps(input->nodes[id]);
    const HazardGraph::Range r = graph.ranges[id];
    return std::span<const Dependency>(graph.storage).subspan(r.begin, r.count);
  }
  /// The node that stands for `id` now (itself, or the fused dispatch that replaced it). Several
  /// edges of a node may name the same one then.
  std::uint32_t rep(std::uint32_t id) const {
    while (graph.forward[id] != kNoNode) id = graph.forward[id];
    return id;
  }
};

/// Reads `list` into a program (see the design note), reusing the program's capacity.
void build_program(const CommandList& list, PassProgram& program);

/// Throws Error(InvalidArgument) naming `pass`, the dispatch and the arg when the program has an
/// untagged buffer arg.
void require_complete_annotation(const PassProgram& program, Pass pass);

/// Makes program.graph valid; with `across_barriers`, with the hazards across barriers too.
void ensure_hazard_graph(PassProgram& program, bool across_barriers = false);

/// Fusion replaced dispatches `a` and `b` by `f`: f takes both their edges (but the one between
/// them), and edges to them now lead to f. No-op while the graph is not valid; invalidates a graph
/// without the hazards across barriers (f may have moved across one).
void fuse_in_graph(PassProgram& program, std::uint32_t a, std::uint32_t b, std::uint32_t f);

/// True when the accesses of nodes `a` and `b` conflict (overlap, at least one writes).
bool nodes_conflict(const PassProgram& program, std::uint32_t a, std::uint32_t b);

/// The shape of the list materialize made.
RecordingShape shape_of(const CommandList& list);

/// Fills `out` (an empty list, possibly recycled) with the list the program stands for now: its
/// nodes in sequence order, ordering recomputed from byte ranges for the input's mode (edges,
/// inferred barriers or the serial chain), everything else (resources, values, slots, hot views,
/// fence waits, registry) carried over. Computes the hazard graph when the mode needs it. Throws
/// Error(Internal) if a pass placed a dispatch before one it conflicts with.
void materialize(PassProgram& program, CommandList& out);

}  // namespace encore::detail
