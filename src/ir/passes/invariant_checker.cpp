// The invariants every pass output must hold, checked after each pass in debug builds and in
// tests (PassOptions::check_invariants):
//  - acyclic: every ordering edge runs from a lower index to a higher one, dependencies name
//    dispatches, and barrier_before names the barrier that precedes the node;
//  - args consistent: each dispatch binds its kernel's params (kinds, value sizes, at least the
//    param's access) and every view lies inside its allocation;
//  - every hazard ordered: for every conflict the hazard tracker reports over the whole list
//    (RAW, WAR, WAW; their transitive closure covers every conflicting pair), the later dispatch
//    is reachable from the earlier one through dependencies and barriers.
// Reachability uses one ancestor bit set per node: quadratic memory, fine for a debug check.

#include <string>

#include "encore/error.h"

#include "core/allocation.h"
#include "core/hazard_tracker.h"
#include "ir/passes/passes.h"

namespace encore::detail {

namespace {

class Checker {
 public:
  Checker(const CommandList& list, Pass pass) : list_(list), pass_(pass) {}

  void run() {
    check_structure();
    check_args();
    check_hazards();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    Error e(ErrorCode::Internal,
            "the " + std::string(to_string(pass_)) + " pass broke an invariant: " + what);
    if (!list_.label.empty()) e.add_context("command buffer '" + list_.label + "'");
    throw e;
  }
  std::string node(std::size_t i) const { return list_.describe_node(i); }

  void check_structure() const {
    std::uint32_t last_barrier = kNoNode;
    for (std::uint32_t i = 0; i < list_.nodes.size(); ++i) {
      const Node& n = list_.nodes[i];
      if (n.barrier_before != last_barrier) {
        fail(node(i) + " names barrier_before " + std::to_string(n.barrier_before) +
             ", but the barrier before it is " + std::to_string(last_barrier));
      }
      for (const Dependency& d : list_.node_deps(n)) {
        if (d.node >= i || list_.nodes[d.node].kind != NodeKind::Dispatch) {
          fail(node(i) + " depends on node " + std::to_string(d.node) +
               ", which is not an earlier dispatch");
        }
      }
      if (n.kind == NodeKind::Barrier) last_barrier = i;
    }
  }

  void check_args() const {
    for (std::uint32_t i = 0; i < list_.nodes.size(); ++i) {
      const Node& n = list_.nodes[i];
      if (n.kind != NodeKind::Dispatch) continue;
      if (n.kernel == nullptr || n.kernel_args != n.kernel->params.size() ||
          n.args_count < n.kernel_args || n.args_begin + n.args_count > list_.args.size()) {
        fail(node(i) + " does not bind its kernel's params");
      }
      const auto args = list_.node_args(n);
      for (std::uint32_t k = 0; k < args.size(); ++k) check_arg(i, k, args[k]);
    }
  }

  void check_arg(std::uint32_t i, std::uint32_t k, const BoundArg& a) const {
    const Node& n = list_.nodes[i];
    const std::string where = "arg " + std::to_string(k) + " of " + node(i);
    if (k < n.kernel_args) {
      const Param& param = n.kernel->params[k];
      const bool buffer = a.kind == Arg::Kind::Buffer;
      if (buffer != (param.kind == Param::Kind::Buffer)) fail(where + " has the wrong kind");
      if (!buffer && a.size != param.value_size) fail(where + " has the wrong value size");
      if (buffer && ((reads(param.access) && !reads(a.access)) ||
                     (writes(param.access) && !writes(a.access)))) {
        fail(where + " declares less access than its param");
      }
      if (a.kind == Arg::Kind::Slot && a.data >= list_.slots.size()) fail(where + " names no slot");
    } else if (a.kind != Arg::Kind::Buffer || !a.extra) {
      fail(where + " is past the kernel's params but not an extra range");
    }
    if (a.kind != Arg::Kind::Buffer) return;
    if (a.resource >= list_.resources.size() ||
        a.offset + a.size > list_.resources[a.resource]->size) {
      fail(where + " lies outside its allocation");
    }
  }

  void check_hazards() {
    const std::size_t n = list_.nodes.size();
    words_ = (n + 63) / 64;
    ancestors_.assign(n * words_, 0);
    for_each_ordering_edge(list_, [&](std::uint32_t from, std::uint32_t to, const Dependency*) {
      if (from >= to) fail("an ordering edge runs from " + node(from) + " back to " + node(to));
      std::uint64_t* dst = &ancestors_[to * words_];
      const std::uint64_t* src = &ancestors_[from * words_];
      for (std::size_t w = 0; w < words_; ++w) dst[w] |= src[w];
      dst[from / 64] |= std::uint64_t{1} << (from % 64);
    });
    HazardTracker tracker;
    std::vector<Hazard> hazards;
    for (std::uint32_t i = 0; i < n; ++i) {
      const Node& node_i = list_.nodes[i];
      if (node_i.kind != NodeKind::Dispatch) continue;
      hazards.clear();
      for (const BoundArg& a : list_.node_args(node_i)) {
        if (a.kind != Arg::Kind::Buffer) continue;
        tracker.access(i, {a.resource, {a.offset, a.offset + a.size}, writes(a.access)}, hazards);
      }
      for (const Hazard& h : hazards) {
        if ((ancestors_[i * words_ + h.node / 64] >> (h.node % 64) & 1U) == 0) {
          fail(node(h.node) + " and " + node(i) + " conflict (" + std::string(to_string(h.kind)) +
               " on " + list_.resources[h.resource]->describe() + ") but nothing orders them");
        }
      }
    }
  }

  const CommandList& list_;
  Pass pass_;
  std::size_t words_ = 0;
  std::vector<std::uint64_t> ancestors_;
};

}  // namespace

void check_invariants(const CommandList& list, Pass pass) { Checker(list, pass).run(); }

}  // namespace encore::detail
