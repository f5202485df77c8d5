// Builds the command list a program stands for, recomputing its ordering from byte ranges with
// the rules the encoder uses (docs/architecture.md, "Encoding a dispatch"):
//  - serial: every dispatch follows the previous one (program order);
//  - barriers, auto_barrier: a barrier is inferred before a dispatch that conflicts with one of
//    the dispatches since the last barrier, and records that conflict as its reason;
//  - auto_dag: one edge per earlier dispatch it conflicts with since the last barrier, dropping
//    an edge another edge's source implies directly (the encoder's pruning) or, after minimize,
//    every edge some path of other edges implies (transitive reduction).
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
    new_index_.assign(p.nodes.size(), kNoNode);
  }

  void run() {
    for (std::uint32_t id : p_.sequence) {
      if (p_.nodes[id].kind == NodeKind::Barrier) {
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
    out_.origins.push_back(inferred_from != nullptr ? NodeOrigin{} : p_.origins[id]);
    ++out_.barrier_count;
  }

  // barriers / auto_barrier: a barrier before `id` when it conflicts with the open group.
  void infer_barrier(std::uint32_t id) {
    for (const Dependency& d : p_.graph.of(id)) {
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
    Node n = p_.nodes[id];
    n.deps_begin = static_cast<std::uint32_t>(out_.deps.size());
    if (ordering == Ordering::Serial && last_dispatch_ != kNoNode) {
      out_.deps.push_back({last_dispatch_, DependencyKind::ProgramOrder, 0, {}, {}});
    } else if (ordering == Ordering::AutoDag) {
      append_edges(id);
    }
    n.deps_count = static_cast<std::uint32_t>(out_.deps.size()) - n.deps_begin;
    const auto args = p_.args(id);
    n.args_begin = static_cast<std::uint32_t>(out_.args.size());
    out_.args.insert(out_.args.end(), args.begin(), args.end());
    n.barrier_before = last_barrier_;
    out_.nodes.push_back(n);
    out_.origins.push_back(p_.origins[id]);
    new_index_[id] = index;
    last_dispatch_ = index;
    ++out_.dispatch_count;
  }

  void append_edges(std::uint32_t id) {
    candidates_.clear();
    for (const Dependency& d : p_.graph.of(id)) {
      const std::uint32_t from = placed(d.node, id);
      if (from < group_start_) continue;  // the last barrier orders it
      candidates_.push_back(d);
      candidates_.back().node = from;
    }
    if (candidates_.size() > 1) {
      if (mark_.size() < out_.nodes.size()) mark_.resize(out_.nodes.size() + 64, 0);
      stamp_ += 2;
      for (const Dependency& c : candidates_) mark_[c.node] = stamp_;
      if (p_.reduce_edges) {
        mark_reachable_candidates();
      } else {
        mark_direct_candidates();
      }
    }
    for (const Dependency& c : candidates_) {
      if (candidates_.size() > 1 && mark_[c.node] == stamp_ + 1) continue;  // implied
      out_.deps.push_back(c);
    }
  }

  // The encoder's pruning: a candidate another candidate depends on directly is implied.
  void mark_direct_candidates() {
    for (const Dependency& c : candidates_) {
      for (const Dependency& d : out_.node_deps(out_.nodes[c.node])) {
        if (mark_[d.node] == stamp_) mark_[d.node] = stamp_ + 1;
      }
    }
  }

  // Transitive reduction: a candidate reachable from another candidate is implied. One walk
  // over the ancestors of all candidates, down to the earliest candidate.
  void mark_reachable_candidates() {
    std::uint32_t lowest = UINT32_MAX;
    for (const Dependency& c : candidates_) lowest = std::min(lowest, c.node);
    if (seen_.size() < mark_.size()) seen_.resize(mark_.size(), 0);
    ++walk_;
    stack_.clear();
    for (const Dependency& c : candidates_) stack_.push_back(c.node);
    while (!stack_.empty()) {
      const std::uint32_t v = stack_.back();
      stack_.pop_back();
      for (const Dependency& d : out_.node_deps(out_.nodes[v])) {
        if (d.node < lowest || seen_[d.node] == walk_) continue;
        seen_[d.node] = walk_;
        if (mark_[d.node] == stamp_) mark_[d.node] = stamp_ + 1;
        stack_.push_back(d.node);
      }
    }
  }

  const PassProgram& p_;
  CommandList& out_;
  std::vector<std::uint32_t> new_index_;
  std::uint32_t last_barrier_ = kNoNode;
  std::uint32_t last_dispatch_ = kNoNode;
  std::uint32_t group_start_ = 0;
  std::vector<Dependency> candidates_;
  std::vector<std::uint32_t> mark_;  // 2k: candidate of the current dispatch, 2k+1: implied
  std::uint32_t stamp_ = 0;
  std::vector<std::uint32_t> seen_;
  std::uint32_t walk_ = 0;
  std::vector<std::uint32_t> stack_;
};

}  // namespace

std::shared_ptr<CommandList> materialize(PassProgram& p) {
  if (p.ordering != Ordering::Serial) ensure_hazard_graph(p);
  const CommandList& in = *p.input;
  auto out = std::make_shared<CommandList>();
  out->id = next_command_list_id();
  out->device_id = in.device_id;
  out->path = in.path;
  out->ordering = in.ordering;
  out->label = in.label;
  out->values = in.values;
  out->label_arena = p.labels;
  out->resources = in.resources;
  out->retained = in.retained;
  out->slots = in.slots;
  out->slot_initial = in.slot_initial;
  out->hot = in.hot;
  out->waits = in.waits;
  out->registry = in.registry;
  out->nodes.reserve(p.sequence.size() + 8);
  out->origins.reserve(p.sequence.size() + 8);
  out->args.reserve(in.args.size());
  out->deps.reserve(in.deps.size() + p.sequence.size());
  Materializer(p, *out).run();
  return out;
}

}  // namespace encore::detail
