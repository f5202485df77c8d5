#pragma once

// The form the recording passes work on, and the two conversions around it.
//
// Design note.
// A pass never edits a CommandList. `build_program` reads the input list into a Program: the
// sequence of its dispatches and explicit barriers (node ids = input node indices, so nothing is
// copied per arg; a fused dispatch gets a new id and its args live in `fused_args`). What the
// ordering of the input was — dependency edges (auto_dag), inferred barriers (auto_barrier), the
// program-order chain (serial) — is not carried over: it is derived data, recomputed from byte
// ranges by `materialize` once the passes are done, with the same rules the encoder uses. Explicit
// barriers are kept as nodes; in a barriers-ordered recording they are the user's way of writing
// the ordering and are marked `recomputable` (reorder strips them and materialize infers barriers
// where hazards need them), in the other modes they are fences the passes respect.
//
// Every pass needs complete annotation: an untagged buffer arg hides what the dispatch does, so a
// program with one is refused (`require_complete_annotation`) before a pass runs.
//
// The HazardGraph holds, per dispatch, edges to earlier dispatches whose transitive closure covers
// every RAW/WAR/WAW pair of the sequence, each edge itself a real hazard with its reason. It is
// computed with the encoder's HazardTracker over the whole sequence, ignoring barriers (or taken
// from the input's own edges when those are exactly that: an auto_dag list without barriers). Its
// edges name node ids, so it stays valid when a pass permutes the sequence without reordering any
// conflicting pair (reorder); fusion invalidates it.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "encore/passes.h"

#include "core/command_list.h"

namespace encore::detail {

struct PassProgram;

/// Per dispatch id, edges to earlier dispatches (Dependency::node is an id). See the design note.
struct HazardGraph {
  std::vector<std::span<const Dependency>> preds;  ///< by node id
  std::vector<Dependency> storage;  ///< computed edges (imported ones live in the input)

  std::span<const Dependency> of(std::uint32_t id) const { return preds[id]; }
};

struct PassProgram {
  const CommandList* input = nullptr;
  Ordering ordering = Ordering::AutoDag;

  /// Nodes by id: the input's nodes (same index), then fused dispatches. `args_begin` of a node
  /// indexes the input's args when below input->args.size(), else `fused_args` (minus that size).
  std::vector<Node> nodes;
  std::vector<NodeOrigin> origins;  ///< by id: input node(s) it stands for
  /// By id: a barrier that reorder may strip and materialize may replace (barriers ordering).
  std::vector<std::uint8_t> recomputable;
  /// By id (sized on first use): for an explicit barrier that minimize kept, the hazard across it
  /// (Dependency::node is the earlier dispatch's id); kind ProgramOrder when none was recorded.
  std::vector<Dependency> barrier_reason;
  std::vector<BoundArg> fused_args;
  /// The input's label arena followed by the labels of fused dispatches.
  std::string labels;

  /// Node ids in program order (dispatches and barriers).
  std::vector<std::uint32_t> sequence;

  HazardGraph graph;
  bool graph_valid = false;
  /// Set by minimize: materialize reduces dependency edges transitively.
  bool reduce_edges = false;

  /// First untagged buffer arg, if any (node id, arg index), found by build_program.
  std::uint32_t untagged_node = kNoNode;
  std::uint32_t untagged_arg = 0;

  std::span<const BoundArg> args(const Node& n) const {
    const auto input_args = static_cast<std::uint32_t>(input->args.size());
    if (n.args_begin < input_args) return list_args(n);
    return std::span<const BoundArg>(fused_args).subspan(n.args_begin - input_args, n.args_count);
  }
  std::span<const BoundArg> args(std::uint32_t id) const { return args(nodes[id]); }
  std::string_view label(std::uint32_t id) const {
    const Node& n = nodes[id];
    return std::string_view(labels).substr(n.label_begin, n.label_size);
  }
  /// "dispatch #3 'blk.0.add' (kernel add_f32)" for the input node id stands for; fused
  /// dispatches name both input nodes.
  std::string describe(std::uint32_t id) const;

 private:
  std::span<const BoundArg> list_args(const Node& n) const { return input->node_args(n); }
};

/// Reads `list` into a program (see the design note).
void build_program(const CommandList& list, PassProgram& program);

/// Throws Error(InvalidArgument) naming `pass`, the dispatch and the arg when the program has an
/// untagged buffer arg.
void require_complete_annotation(const PassProgram& program, Pass pass);

/// Computes program.graph unless it is valid.
void ensure_hazard_graph(PassProgram& program);

/// True when the accesses of nodes `a` and `b` conflict (overlap, at least one writes).
bool nodes_conflict(const PassProgram& program, std::uint32_t a, std::uint32_t b);

/// The list the program stands for now: its nodes in sequence order, ordering recomputed from
/// byte ranges for the input's mode (edges, inferred barriers or the serial chain), everything
/// else (resources, values, slots, hot views, fence waits, registry) carried over. Computes the
/// hazard graph when the mode needs it. Throws Error(Internal) if a pass placed a dispatch
/// before one it conflicts with.
std::shared_ptr<CommandList> materialize(PassProgram& program);

}  // namespace encore::detail
