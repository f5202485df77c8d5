// Fusion: "A then B, which reads A's intermediate" becomes one dispatch F of a fused kernel.
//
// Design note.
// The seed matched norm and mul by pipeline label with barriers in between, identified buffers
// without offsets and never checked whether anything else read the norm's output (spec 8.3, 15.6).
// Here a rule (encore/passes.h) matches on kernel identity and op kind, and F is made only when
// it provably computes what A;B did, for every byte anyone can observe:
//  1. B is the first dispatch after A that reads any byte of the intermediate I (within
//     fusion_distance nodes), binds exactly I's view (allocation, offset, size) at one of the
//     rule's inputs and reads I nowhere else; the rule's shape check accepts both;
//  2. A commutes with every dispatch between A and B (no RAW/WAR/WAW with any of them), so A may
//     move down next to B — F takes B's place. Barriers in between need no care: the ordering is
//     recomputed from ranges afterwards, and (2) is exactly what makes that sound;
//  3. unless F still writes I (a rule that keeps it, or B writing I's view in place), no dispatch
//     after B reads a byte of I before a single write covers all of I, and if none does, I does
//     not overlap a live_out view;
//  4. F's buffer args do not alias in ways A and B did not: an input may overlap an output only
//     when both come from the same dispatch with the very same view (the in-place form that
//     kernel already supported, e.g. add_f32 with sum == a), and outputs never overlap. Neither A
//     nor B may read and write overlapping views that are not the same view: what such a
//     dispatch computes depends on the order its kernel visits elements in, which the fused
//     kernel does not reproduce.
// Scanning is left to right; F sits at B's position, so a later rule may fuse it again
// (add -> rms_norm -> mul becomes add_rms_norm_mul_f32).

#include <bit>
#include <string>

#include "encore/error.h"

#include "core/allocation.h"
#include "ir/passes/passes.h"

namespace encore::detail {

namespace {

struct ResolvedRule {
  const FusionRule* rule = nullptr;
  const KernelDef* first = nullptr;
  const KernelDef* second = nullptr;
  const KernelDef* fused = nullptr;
  bool keeps_intermediate = false;
};

[[noreturn]] void bad_rule(const FusionRule& r, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument,
              "fusion rule " + r.name() + " -> " + r.fused + " is malformed: " + why);
}

const Param& source_param(const ResolvedRule& r, const FusedArg& a) {
  switch (a.from) {
    case FusedArg::From::First:
      return r.first->params.at(a.param);
    case FusedArg::From::Second:
      return r.second->params.at(a.param);
    case FusedArg::From::SecondOther:
      break;
  }
  return r.second->params.at(r.rule->second_inputs.front());
}

// Checks the rule's indices and param kinds against the registered signatures.
void validate(const ResolvedRule& r) {
  const FusionRule& rule = *r.rule;
  const auto& fp = r.first->params;
  const auto& sp = r.second->params;
  if (rule.intermediate >= fp.size() || fp[rule.intermediate].kind != Param::Kind::Buffer ||
      !writes(fp[rule.intermediate].access)) {
    bad_rule(rule, "the intermediate is not an out param of " + rule.first);
  }
  if (rule.second_inputs.empty()) bad_rule(rule, "no input of " + rule.second + " is named");
  for (std::uint32_t i : rule.second_inputs) {
    if (i >= sp.size() || sp[i].kind != Param::Kind::Buffer || sp[i].access != Access::In) {
      bad_rule(rule, "param " + std::to_string(i) + " of " + rule.second + " is not an in buffer");
    }
  }
  if (rule.args.size() != r.fused->params.size()) {
    bad_rule(rule, std::to_string(rule.args.size()) + " args mapped, but " + rule.fused + " has " +
                       std::to_string(r.fused->params.size()) + " params");
  }
  for (std::size_t i = 0; i < rule.args.size(); ++i) {
    const FusedArg& a = rule.args[i];
    if (a.from == FusedArg::From::SecondOther && rule.second_inputs.size() != 2) {
      bad_rule(rule, "SecondOther needs exactly two inputs of " + rule.second);
    }
    const std::size_t limit = a.from == FusedArg::From::First ? fp.size() : sp.size();
    if (a.from != FusedArg::From::SecondOther && a.param >= limit) {
      bad_rule(rule, "arg " + std::to_string(i) + " maps a param that does not exist");
    }
    const Param& from = source_param(r, a);
    const Param& to = r.fused->params[i];
    if (from.kind != to.kind || from.value_size != to.value_size ||
        (to.kind == Param::Kind::Buffer && from.access != to.access)) {
      bad_rule(rule, "arg " + std::to_string(i) + " ('" + to.name + "') does not match '" +
                         from.name + "' (kind, size or access)");
    }
  }
}

class Fuser {
 public:
  Fuser(PassProgram& p, const PassOptions& o, PassNotes notes) : p_(p), o_(o), notes_(notes) {}

  PassCounts run() {
    resolve_rules();
    PassCounts counts;
    if (rules_.empty()) return counts;
    p_.ensure_masks();
    for (std::size_t pos = 0; pos < p_.sequence.size(); ++pos) {
      const std::uint32_t id = p_.sequence[pos];
      if (id == kNoNode || p_.node(id).kind != NodeKind::Dispatch) continue;
      const Node& n = p_.node(id);
      for (const ResolvedRule& r : rules_) {
        if (r.first == n.kernel && n.op == r.first->op && try_fuse(pos, r)) {
          ++counts.nodes_fused;
          break;
        }
      }
    }
    if (counts.nodes_fused != 0) {
      std::erase(p_.sequence, kNoNode);
      // Reasons minimize recorded for kept barriers may name a dispatch that is gone now.
      p_.barrier_reason.clear();
    }
    return counts;
  }

 private:
  void note(const std::string& text) {
    if (notes_ != nullptr) notes_->push_back(text);
  }

  void resolve_rules() {
    const KernelRegistry* registry = p_.input->registry.get();
    if (registry == nullptr) return;
    for (const FusionRule& rule : o_.fusion_rules) {
      ResolvedRule r{&rule, registry->find(rule.first), registry->find(rule.second),
                     registry->find(rule.fused)};
      if (r.first == nullptr || r.second == nullptr || r.fused == nullptr) {
        note("rule " + rule.name() + " -> " + rule.fused + " skipped: a kernel is not registered");
        continue;
      }
      validate(r);
      // F must run wherever A and B ran.
      if ((r.first->cpu && r.second->cpu && !r.fused->cpu) ||
          (r.first->cuda != nullptr && r.second->cuda != nullptr && r.fused->cuda == nullptr)) {
        note("rule " + rule.name() + " skipped: " + rule.fused +
             " lacks an implementation its parts have");
        continue;
      }
      for (const FusedArg& a : rule.args) {
        r.keeps_intermediate |= a.from == FusedArg::From::First && a.param == rule.intermediate;
      }
      rules_.push_back(r);
    }
  }

  static bool reads_bytes(const BoundArg& a, const BoundArg& view) {
    return a.kind == Arg::Kind::Buffer && reads(a.access) && a.resource == view.resource &&
           overlaps({a.offset, a.offset + a.size}, {view.offset, view.offset + view.size});
  }
  static bool same_view(const BoundArg& a, const BoundArg& b) {
    return a.kind == Arg::Kind::Buffer && b.kind == Arg::Kind::Buffer && a.resource == b.resource &&
           a.offset == b.offset && a.size == b.size;
  }
  bool node_reads(std::uint32_t id, const BoundArg& view) const {
    if ((p_.read_mask[id] & PassProgram::resource_bit(view.resource)) == 0) return false;
    for (const BoundArg& a : p_.args(id)) {
      if (reads_bytes(a, view)) return true;
    }
    return false;
  }

  std::string describe(std::uint32_t id) const { return p_.describe(id); }
  std::string refused(std::uint32_t a, std::uint32_t b, const ResolvedRule& r) const {
    return "not fused: " + describe(a) + " + " + describe(b) + " (" + r.rule->name() + "): ";
  }

  // Step 1 and 2: the position of B, or 0 (no B; A cannot move).
  std::size_t find_consumer(std::size_t pos_a, const BoundArg& intermediate,
                            const ResolvedRule& r) {
    const std::uint32_t a = p_.sequence[pos_a];
    const std::size_t end = std::min(p_.sequence.size(), pos_a + 1 + o_.fusion_distance);
    for (std::size_t pos = pos_a + 1; pos < end; ++pos) {
      const std::uint32_t y = p_.sequence[pos];
      if (y == kNoNode || p_.node(y).kind != NodeKind::Dispatch) continue;
      if (node_reads(y, intermediate)) return pos;
      if (nodes_conflict(p_, a, y)) {
        if (notes_ != nullptr) {
          note("not fused: " + describe(a) + " (" + r.rule->name() + "): it cannot move past " +
               describe(y) + ", which conflicts with it");
        }
        return 0;
      }
    }
    return 0;
  }

  // Step 3: whether the bytes of I that F no longer writes may be observed later.
  std::string observed_later(std::size_t pos_b, const BoundArg& i) const {
    const std::uint64_t bit = PassProgram::resource_bit(i.resource);
    for (std::size_t pos = pos_b + 1; pos < p_.sequence.size(); ++pos) {
      const std::uint32_t y = p_.sequence[pos];
      if (y == kNoNode || ((p_.read_mask[y] | p_.write_mask[y]) & bit) == 0) continue;
      if (node_reads(y, i)) return "the intermediate is read by " + describe(y);
      for (const BoundArg& a : p_.args(y)) {
        if (a.kind == Arg::Kind::Buffer && writes(a.access) && a.resource == i.resource &&
            contains({a.offset, a.offset + a.size}, {i.offset, i.offset + i.size})) {
          return {};  // overwritten whole: dead
        }
      }
    }
    const Allocation* alloc = p_.input->resources[i.resource];
    for (const BufferView& v : o_.live_out) {
      if (v.buffer().allocation().get() == alloc &&
          overlaps(v.range(), {i.offset, i.offset + i.size})) {
        return "the intermediate " + alloc->describe() + " overlaps a live_out view";
      }
    }
    return {};
  }

  // Step 4, within one dispatch: two args that overlap, one of them written, must be the same
  // view.
  bool self_aliased(std::uint32_t id) const {
    return (p_.read_mask[id] & p_.write_mask[id]) != 0 && self_aliased(p_.args(id));
  }
  static bool self_aliased(std::span<const BoundArg> args) {
    for (const BoundArg& w : args) {
      if (w.kind != Arg::Kind::Buffer || !writes(w.access)) continue;
      for (const BoundArg& r : args) {
        if (&r != &w && r.kind == Arg::Kind::Buffer && r.resource == w.resource &&
            !same_view(r, w) &&
            overlaps({r.offset, r.offset + r.size}, {w.offset, w.offset + w.size})) {
          return true;
        }
      }
    }
    return false;
  }

  // Step 4. `from_first[k]` says which dispatch fused arg k came from.
  static std::string alias_problem(const std::vector<BoundArg>& args,
                                   const std::vector<bool>& from_first) {
    std::uint64_t read = 0;
    std::uint64_t written = 0;
    std::size_t outputs = 0;
    for (const BoundArg& a : args) {
      if (a.kind != Arg::Kind::Buffer) continue;
      if (reads(a.access)) read |= PassProgram::resource_bit(a.resource);
      if (writes(a.access)) {
        // Two outputs on one allocation show as a single bit: count them instead.
        written |= PassProgram::resource_bit(a.resource);
        ++outputs;
      }
    }
    if ((read & written) == 0 && std::popcount(written) == static_cast<int>(outputs)) return {};
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i].kind != Arg::Kind::Buffer || !writes(args[i].access)) continue;
      const ByteRange wi{args[i].offset, args[i].offset + args[i].size};
      for (std::size_t j = 0; j < args.size(); ++j) {
        if (j == i || args[j].kind != Arg::Kind::Buffer || args[j].resource != args[i].resource ||
            !overlaps(wi, {args[j].offset, args[j].offset + args[j].size})) {
          continue;
        }
        const bool in_place = !writes(args[j].access) && same_view(args[i], args[j]) &&
                              from_first[i] == from_first[j];
        if (!in_place) {
          return "fused args " + std::to_string(i) + " and " + std::to_string(j) +
                 " would alias in a way neither dispatch did";
        }
      }
    }
    return {};
  }

  bool try_fuse(std::size_t pos_a, const ResolvedRule& r) {
    const std::uint32_t a = p_.sequence[pos_a];
    const auto args_a = p_.args(a);
    const BoundArg intermediate = args_a[r.rule->intermediate];
    const std::size_t pos_b = find_consumer(pos_a, intermediate, r);
    if (pos_b == 0) return false;
    const std::uint32_t b = p_.sequence[pos_b];
    const Node& nb = p_.node(b);
    if (nb.kernel != r.second || nb.op != r.second->op) {
      if (notes_ != nullptr) {
        note("not fused: " + describe(a) + " (" + r.rule->name() + "): its output is read by " +
             describe(b) + ", which is not a " + r.rule->second);
      }
      return false;
    }
    const auto args_b = p_.args(b);
    std::uint32_t link = kNoNode;
    for (std::uint32_t k : r.rule->second_inputs) {
      if (same_view(args_b[k], intermediate)) {
        link = k;
        break;
      }
    }
    if (link == kNoNode) {
      if (notes_ != nullptr) {
        note(refused(a, b, r) + "the second does not bind the intermediate's exact view " +
             "(same allocation, offset and size)");
      }
      return false;
    }
    for (std::uint32_t k = 0; k < args_b.size(); ++k) {
      if (k != link && reads_bytes(args_b[k], intermediate)) {
        if (notes_ != nullptr) note(refused(a, b, r) + "the second reads the intermediate twice");
        return false;
      }
    }
    if (r.rule->check) {
      const std::string why = r.rule->check(FusionCandidate(p_, a), FusionCandidate(p_, b));
      if (!why.empty()) {
        if (notes_ != nullptr) note(refused(a, b, r) + why);
        return false;
      }
    }
    std::vector<BoundArg>& args = args_;
    std::vector<bool>& from_first = from_first_;
    args.clear();
    from_first.clear();
    bool writes_intermediate = r.keeps_intermediate;
    for (const FusedArg& m : r.rule->args) {
      const bool first = m.from == FusedArg::From::First;
      std::uint32_t param = m.param;
      if (m.from == FusedArg::From::SecondOther) {
        param =
            r.rule->second_inputs[0] == link ? r.rule->second_inputs[1] : r.rule->second_inputs[0];
      }
      args.push_back(first ? args_a[param] : args_b[param]);
      from_first.push_back(first);
      writes_intermediate |= writes(args.back().access) && same_view(args.back(), intermediate);
    }
    if (self_aliased(a) || self_aliased(b)) {
      if (notes_ != nullptr) {
        note(refused(a, b, r) + "a dispatch reads and writes overlapping views that differ, so " +
             "its result depends on its kernel's element order");
      }
      return false;
    }
    if (std::string why = alias_problem(args, from_first); !why.empty()) {
      if (notes_ != nullptr) note(refused(a, b, r) + why);
      return false;
    }
    if (!writes_intermediate) {
      if (std::string why = observed_later(pos_b, intermediate); !why.empty()) {
        if (notes_ != nullptr) note(refused(a, b, r) + why);
        return false;
      }
    }
    // Declared extra ranges of both stay tracked.
    const auto extras = [&](std::uint32_t id, std::span<const BoundArg> all) {
      for (std::size_t k = p_.node(id).kernel_args; k < all.size(); ++k) args.push_back(all[k]);
    };
    extras(a, args_a);
    extras(b, args_b);
    const std::uint32_t f = append_fused(a, b, r, args);
    if (notes_ != nullptr) {
      note("fused " + describe(a) + " + " + describe(b) + " -> " + r.rule->fused + " '" +
           std::string(p_.label(f)) + "'");
    }
    p_.sequence[pos_b] = f;
    p_.sequence[pos_a] = kNoNode;
    return true;
  }

  std::uint32_t append_fused(std::uint32_t a, std::uint32_t b, const ResolvedRule& r,
                             const std::vector<BoundArg>& args) {
    Node f;
    f.kind = NodeKind::Dispatch;
    f.kernel = r.fused;
    f.op = r.fused->op;
    f.launch = p_.node(r.rule->launch_of_second ? b : a).launch;
    f.args_begin = static_cast<std::uint32_t>(p_.fused_args.size());
    f.args_count = static_cast<std::uint32_t>(args.size());
    f.kernel_args = static_cast<std::uint32_t>(r.rule->args.size());
    p_.fused_args.insert(p_.fused_args.end(), args.begin(), args.end());
    p_.add_masks(args);
    std::string_view base = p_.label(a);
    if (base.empty()) base = p_.label(b);
    if (!base.empty()) {
      const std::string label = std::string(base) + "+" + r.rule->note;
      f.label_begin = static_cast<std::uint32_t>(p_.labels.size());
      f.label_size = static_cast<std::uint32_t>(label.size());
      p_.labels += label;
      p_.labels += '\0';
    }
    const std::uint32_t id = p_.node_count();
    p_.fused.push_back(f);
    p_.fused_origins.push_back({p_.origin(a).first, p_.origin(b).first});
    fuse_in_graph(p_, a, b, id);
    return id;
  }

  PassProgram& p_;
  const PassOptions& o_;
  PassNotes notes_;
  std::vector<ResolvedRule> rules_;
  std::vector<BoundArg> args_;  // scratch of try_fuse
  std::vector<bool> from_first_;
};

}  // namespace

PassCounts fuse(PassProgram& program, const PassOptions& options, PassNotes notes) {
  return Fuser(program, options, notes).run();
}

}  // namespace encore::detail
