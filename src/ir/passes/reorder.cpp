// Reorder: llama.cpp's concurrency reorder (ggml-metal's graph optimiser; seed spec 8.4).
//
// Design note.
// Walk the sequence keeping the current concurrent group. A node that conflicts with the group
// would close it (a barrier, or an edge, before it); before closing, look ahead at most
// reorder_window - 1 nodes and pull into the group every node that conflicts neither with the
// group nor with any node skipped so far (those stay behind it), stopping at the first fence.
// Then the node starts the next group.
//
// llama.cpp and the seed keep two sets of byte ranges (the group, the skipped nodes) and test
// each candidate against both. Here the test is on the hazard graph instead: a candidate
// conflicts with a node of either set exactly when one of its graph predecessors is in the group
// or skipped. (A direct conflict gives a path of graph edges whose nodes all lie between the two
// in program order; none of them can sit in an earlier group, so the last one is in the group or
// skipped. Conversely every graph edge is a conflict.) That makes a lookahead step a few integer
// compares instead of range scans, and the graph stays valid after the pass because no
// conflicting pair changes order.
//
// Fences, never pulled and never passed by the lookahead: Sdpa, Softmax and Collective dispatches
// (as in the seed), Other dispatches whose kernel the options do not list as reorderable (the seed
// moved them; an untagged op may hide anything), and explicit barriers outside barriers ordering.
// In barriers ordering the barriers are the program's way of writing its hazards: they are
// stripped first and materialize infers the ones the new order needs.
//
// "Nodes moved" counts the dispatches pulled into an earlier group, each once. (The seed counted
// positions whose occupant changed, which counts every node a pull shifts down as well.)

#include <algorithm>
#include <span>
#include <string>

#include "ir/passes/passes.h"

namespace encore::detail {

namespace {

bool reorderable_kind(OpKind op) {
  switch (op) {
    case OpKind::Copy:
    case OpKind::Fill:
    case OpKind::ElemAdd:
    case OpKind::ElemMul:
    case OpKind::ElemScale:
    case OpKind::Reduce:
    case OpKind::RmsNorm:
    case OpKind::RmsNormMul:
    case OpKind::AddRmsNorm:
    case OpKind::Rope:
    case OpKind::Gemv:
    case OpKind::MatMul:
    case OpKind::Embedding:
    case OpKind::KvAppend:
    case OpKind::SiluMul:
    case OpKind::Argmax:
      return true;
    case OpKind::Other:  // only when whitelisted by kernel name
    case OpKind::Sdpa:
    case OpKind::Softmax:
    case OpKind::Collective:
      return false;
  }
  return false;
}

class Reorderer {
 public:
  Reorderer(PassProgram& p, const PassOptions& o, PassNotes notes) : p_(p), o_(o), notes_(notes) {}

  PassCounts run() {
    PassCounts counts;
    if (p_.ordering == Ordering::Barriers) {
      const std::size_t before = p_.sequence.size();
      std::erase_if(p_.sequence, [&](std::uint32_t id) { return p_.recomputable(id); });
      counts.barriers_dropped = before - p_.sequence.size();
    }
    ensure_hazard_graph(p_);
    compact_preds();
    const std::vector<std::uint32_t>& in = p_.sequence;
    const std::size_t n = in.size();
    group_.assign(p_.node_count(), 0);
    skipped_.assign(p_.node_count(), 0);
    std::vector<std::uint8_t> used(n, 0);
    out_.clear();
    out_.reserve(n);
    const std::size_t window = std::max<std::uint32_t>(o_.reorder_window, 1);
    for (std::size_t i0 = 0; i0 < n; ++i0) {
      if (used[i0] != 0) continue;
      const std::uint32_t id0 = in[i0];
      if (p_.node(id0).kind == NodeKind::Barrier) {  // a fence that also closes the group
        ++current_;
        out_.push_back(id0);
        ++current_;
        continue;
      }
      if (has_pred_in_group(id0)) {
        ++stamp_;
        skipped_[id0] = stamp_;
        for (std::size_t i1 = i0 + 1; i1 < n && i1 < i0 + window; ++i1) {
          if (used[i1] != 0) continue;
          const std::uint32_t id1 = in[i1];
          if (!reorderable(id1)) break;
          if (blocked(id1)) {
            skipped_[id1] = stamp_;
            continue;
          }
          group_[id1] = current_;
          out_.push_back(id1);
          used[i1] = 1;
          ++counts.nodes_moved;
          if (notes_ != nullptr) {
            notes_->push_back("moved " + p_.describe(id1) + " before " + p_.describe(id0));
          }
        }
        ++current_;  // the group closes; id0 opens the next one
      }
      group_[id0] = current_;
      out_.push_back(id0);
    }
    p_.sequence.swap(out_);
    return counts;
  }

 private:
  bool reorderable(std::uint32_t id) const {
    const Node& n = p_.node(id);
    if (n.kind != NodeKind::Dispatch) return false;
    if (n.op == OpKind::Other) {
      return std::find(o_.reorderable.begin(), o_.reorderable.end(), n.kernel->name) !=
             o_.reorderable.end();
    }
    return reorderable_kind(n.op);
  }

  // The lookahead reads each node's predecessors many times: keep them as plain ids (resolved
  // through fusion's forwarding), not as 48-byte dependency records.
  void compact_preds() {
    pred_begin_.assign(p_.node_count() + 1, 0);
    pred_ids_.clear();
    std::uint32_t previous = 0;
    for (std::uint32_t id = 0; id < p_.node_count(); ++id) {
      pred_begin_[id] = previous;
      if (p_.node(id).kind == NodeKind::Dispatch && in_sequence(id)) {
        for (const Dependency& d : p_.preds(id)) pred_ids_.push_back(p_.rep(d.node));
      }
      previous = static_cast<std::uint32_t>(pred_ids_.size());
    }
    pred_begin_[p_.node_count()] = previous;
  }
  bool in_sequence(std::uint32_t id) const { return p_.graph.forward[id] == kNoNode; }
  std::span<const std::uint32_t> preds_of(std::uint32_t id) const {
    return std::span<const std::uint32_t>(pred_ids_).subspan(pred_begin_[id],
                                                             pred_begin_[id + 1] - pred_begin_[id]);
  }

  bool has_pred_in_group(std::uint32_t id) const {
    for (const std::uint32_t from : preds_of(id)) {
      if (group_[from] == current_) return true;
    }
    return false;
  }

  bool blocked(std::uint32_t id) const {
    for (const std::uint32_t from : preds_of(id)) {
      if (group_[from] == current_ || skipped_[from] == stamp_) return true;
    }
    return false;
  }

  PassProgram& p_;
  const PassOptions& o_;
  PassNotes notes_;
  std::vector<std::uint32_t> out_;
  std::vector<std::uint32_t> pred_begin_;  // CSR of resolved predecessor ids, by node id
  std::vector<std::uint32_t> pred_ids_;
  std::vector<std::uint32_t> group_;    // by id: group the node was placed in (0: not yet)
  std::vector<std::uint32_t> skipped_;  // by id: stamp of the lookahead that skipped it
  std::uint32_t current_ = 1;
  std::uint32_t stamp_ = 0;
};

}  // namespace

PassCounts reorder(PassProgram& program, const PassOptions& options, PassNotes notes) {
  return Reorderer(program, options, notes).run();
}

}  // namespace encore::detail
