// Builds the command list a program stands for, recomputing its ordering from byte ranges with
// the rules the encoder uses (docs/architecture.md, "Encoding a dispatch"):
//  - serial: every dispatch follows the previous one (program order);
//  - barriers, auto_barrier: a barrier is inferred before a dispatch that conflicts with one of
//    the dispatches since the last barrier, and records that conflict as its reason;
//  - auto_dag: one edge per earlier dispatch it conflicts with since the last barrier, dropping
//    an edge another edge's source implies directly (the encoder's pruning) or, after minimize,
//    every edge some path of other edges implies (transitive reduction). For the reduction each
//    dispatch keeps a 64-bit mask of its ancestors among the 64 nodes before it, so "is candidate
//    c an ancestor of candidate c'" is one bit test when they are at most 64 nodes apart (edges
//    of decode-like recordings almost always are); further apart, a walk over the edges decides.
// Conflicts come from the program's hazard graph, whose edges cover every hazard (program.h).
// Explicit barriers are kept, except one with no dispatch since the previous barrier: it orders
// nothing, and the encoder does not record one either.

#include <algorithm>
#include <string>

#include "encore/error.h"

#include "ir/passes/program.h"

namespace encore::detail {

namespace {

class Materializer {
 public:
  Materializer(const PassProgram& p, CommandList& out) : p_(p), out_(out) {
    new_index_.assign(p.node_count(), kNoNode);
  }

  void run() {
    for (std::uint32_t id : p_.sequence) {
      if (p_.node(id).kind == NodeKind::Barrier) {
        if (group_start_ < out_.nodes.size()) append_barrier(id, nullptr);
        continue;
      }
      append_dispatch(id);
    }
  }

 private:
  // The new index of an earlier dispatch; a dependency on one not yet placed means a pass moved
  // a node before one it conflicts with: never mis-order silently.
  std::uint32_t placed(std::uint32_t id, std::uint32_t later) const {
    id = p_.rep(id);
    const std::uint32_t index = new_index_[id];
    if (index == kNoNode) {
      throw Error(ErrorCode::Internal, "a pass placed " + p_.describe(later) + " before " +
                                           p_.describe(id) + ", which it conflicts with");
    }
    return index;
  }

  Dependency renumbered(const Dependency& d, std::uint32_t later) const {
    Dependency r = d;
    r.node = placed(d.node, later);
    return r;
  }

  void append_barrier(std::uint32_t id, const Dependency* inferred_from) {
    Node barrier;
    barrier.kind = NodeKind::Barrier;
    barrier.inferred = inferred_from != nullptr;
    barrier.deps_begin = static_cast<std::uint32_t>(out_.deps.size());
    if (inferred_from != nullptr) {
      out_.deps.push_back(*inferred_from);
    } else if (id < p_.barrier_reason.size() &&
               p_.barrier_reason[id].kind != DependencyKind::ProgramOrder) {
      out_.deps.push_back(renumbered(p_.barrier_reason[id], id));
    }
    barrier.deps_count = static_cast<std::uint32_t>(out_.deps.size()) - barrier.deps_begin;
    barrier.barrier_before = last_barrier_;
    last_barrier_ = static_cast<std::uint32_t>(out_.nodes.size());
    group_start_ = last_barrier_ + 1;
    out_.nodes.push_back(barrier);
    out_.origins.push_back(inferred_from != nullptr ? NodeOrigin{} : p_.origin(id));
    ++out_.barrier_count;
  }

  // barriers / auto_barrier: a barrier before `id` when it conflicts with the open group.
  void infer_barrier(std::uint32_t id) {
    for (const Dependency& d : p_.preds(id)) {
      if (placed(d.node, id) >= group_start_) {
        const Dependency reason = renumbered(d, id);
        append_barrier(id, &reason);
        return;
      }
    }
  }

  void append_dispatch(std::uint32_t id) {
    const Ordering ordering = p_.ordering;
    if (ordering == Ordering::Barriers || ordering == Ordering::AutoBarrier) infer_barrier(id);
    const auto index = static_cast<std::uint32_t>(out_.nodes.size());
    Node n = p_.node(id);
    n.deps_begin = static_cast<std::uint32_t>(out_.deps.size());
    if (ordering == Ordering::Serial && last_dispatch_ != kNoNode) {
      out_.deps.push_back({last_dispatch_, DependencyKind::ProgramOrder, 0, {}, {}});
    } else if (ordering == Ordering::AutoDag) {
      append_edges(id);
    }
    n.deps_count = static_cast<std::uint32_t>(out_.deps.size()) - n.deps_begin;
    if (p_.reduce_edges) record_ancestors(index, n);
    const auto args = p_.args(id);
    n.args_begin = static_cast<std::uint32_t>(out_.args.size());
    out_.args.insert(out_.args.end(), args.begin(), args.end());
    n.barrier_before = last_barrier_;
    out_.nodes.push_back(n);
    out_.origins.push_back(p_.origin(id));
    new_index_[id] = index;
    last_dispatch_ = index;
    ++out_.dispatch_count;
    if (n.kernel->op == OpKind::Collective) ++out_.collective_count;
  }

  // Candidates go straight into the output's deps; implied ones are removed in place.
  void append_edges(std::uint32_t id) {
    if (mark_.size() < out_.nodes.size()) mark_.resize(out_.nodes.size() + 64, 0);
    stamp_ += 2;
    const std::size_t first = out_.deps.size();
    for (const Dependency& d : p_.preds(id)) {
      const std::uint32_t from = placed(d.node, id);
      // The last barrier orders what precedes it; fused parts may name one node twice.
      if (from < group_start_ || mark_[from] == stamp_) continue;
      mark_[from] = stamp_;
      out_.deps.push_back(d);
      out_.deps.back().node = from;
    }
    const std::span<Dependency> candidates(out_.deps.data() + first, out_.deps.size() - first);
    if (candidates.size() < 2) return;
    if (p_.reduce_edges) {
      mark_reachable_candidates(candidates);
    } else {
      mark_direct_candidates(candidates);
    }
    const auto implied = [&](const Dependency& c) { return mark_[c.node] == stamp_ + 1; };
    out_.deps.erase(std::remove_if(out_.deps.begin() + static_cast<std::ptrdiff_t>(first),
                                   out_.deps.end(), implied),
                    out_.deps.end());
  }

  // The encoder's pruning: a candidate another candidate depends on directly is implied.
  void mark_direct_candidates(std::span<const Dependency> candidates) {
    for (const Dependency& c : candidates) {
      for (const Dependency& d : out_.node_deps(out_.nodes[c.node])) {
        if (mark_[d.node] == stamp_) mark_[d.node] = stamp_ + 1;
      }
    }
  }

  // Ancestors of dispatch `index` among the 64 nodes before it (bit k: node index - 1 - k), from
  // its edges. Barrier ordering is left out: candidates of a later dispatch all follow its last
  // barrier, so no path between two of them runs through a barrier.
  void record_ancestors(std::uint32_t index, const Node& n) {
    if (ancestors_.size() <= index) ancestors_.resize(index + 64, 0);
    std::uint64_t mask = 0;
    for (const Dependency& d : out_.node_deps(n)) {
      const std::uint32_t gap = index - d.node;
      if (gap > 64) continue;
      mask |= std::uint64_t{1} << (gap - 1);
      if (gap < 64) mask |= ancestors_[d.node] << gap;
    }
    ancestors_[index] = mask;
  }

  // Whether `from` is an ancestor of `to` (from < to).
  bool reaches(std::uint32_t from, std::uint32_t to) {
    const std::uint32_t gap = to - from;
    if (gap <= 64) return ((ancestors_[to] >> (gap - 1)) & 1U) != 0;
    if (seen_.size() < mark_.size()) seen_.resize(mark_.size(), 0);
    ++walk_;
    stack_.assign(1, to);
    while (!stack_.empty()) {
      const std::uint32_t v = stack_.back();
      stack_.pop_back();
      for (const Dependency& d : out_.node_deps(out_.nodes[v])) {
        if (d.node == from) return true;
        if (d.node < from || seen_[d.node] == walk_) continue;
        seen_[d.node] = walk_;
        stack_.push_back(d.node);
      }
    }
    return false;
  }

  // Transitive reduction: a candidate that is an ancestor of another candidate is implied.
  void mark_reachable_candidates(std::span<const Dependency> candidates) {
    for (const Dependency& c : candidates) {
      for (const Dependency& other : candidates) {
        if (other.node > c.node && reaches(c.node, other.node)) {
          mark_[c.node] = stamp_ + 1;
          break;
        }
      }
    }
  }

  const PassProgram& p_;
  CommandList& out_;
  std::vector<std::uint32_t> new_index_;
  std::uint32_t last_barrier_ = kNoNode;
  std::uint32_t last_dispatch_ = kNoNode;
  std::uint32_t group_start_ = 0;
  std::vector<std::uint32_t> mark_;  // 2k: candidate of the current dispatch, 2k+1: implied
  std::uint32_t stamp_ = 0;
  std::vector<std::uint32_t> seen_;
  std::uint32_t walk_ = 0;
  std::vector<std::uint32_t> stack_;
  std::vector<std::uint64_t> ancestors_;  // by new index, after minimize
};

}  // namespace

void materialize(PassProgram& p, CommandList& out) {
  if (p.ordering != Ordering::Serial) ensure_hazard_graph(p);
  const CommandList& in = *p.input;
  out.id = next_command_list_id();
  out.device_id = in.device_id;
  out.path = in.path;
  out.ordering = in.ordering;
  out.label = in.label;
  out.values = in.values;
  out.label_arena = p.labels;
  out.resources = in.resources;
  out.retained = in.retained;
  out.slots = in.slots;
  out.slot_initial = in.slot_initial;
  out.hot = in.hot;
  out.waits = in.waits;
  out.registry = in.registry;
  out.nodes.reserve(p.sequence.size() + 8);
  out.origins.reserve(p.sequence.size() + 8);
  out.args.reserve(in.args.size());
  out.deps.reserve(in.deps.size() + p.sequence.size());
  Materializer(p, out).run();
}

}  // namespace encore::detail
