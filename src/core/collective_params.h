#pragma once

// What a collective dispatch asks for (docs/adr/0007-collectives.md), shared by the runtime that
// records it and the backends that run it: the value arg of the built-in collective kernels, and
// a reader that finds it, with the buffers, in a command list.
//
// The kernels' params are: all_reduce (data inout, order token inout, CollectiveParams) and
// all_gather (in in, out out, order token inout, CollectiveParams).

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "encore/collective.h"

#include "core/allocation.h"
#include "core/command_list.h"

namespace encore::detail {

inline constexpr const char* kAllReduceKernel = "collective_all_reduce_f32";
inline constexpr const char* kAllGatherKernel = "collective_all_gather_f32";

enum class CollectiveKind : std::uint32_t { AllReduce, AllGather };

inline const char* to_string(CollectiveKind k) noexcept {
  return k == CollectiveKind::AllReduce ? "all_reduce" : "all_gather";
}

/// The value arg of the collective kernels (trivially copyable).
struct CollectiveParams {
  std::uint64_t group = 0;
  std::uint32_t rank = 0;
  CollectiveKind kind = CollectiveKind::AllReduce;
  ReduceOp op = ReduceOp::Sum;
  std::uint32_t count = 0;  ///< elements of this rank's input
};

/// Whether two ranks' calls ask for the same collective: kind and count, and the op of an
/// all_reduce (what every rank must agree on).
inline bool same_collective(const CollectiveParams& a, const CollectiveParams& b) noexcept {
  return a.kind == b.kind && a.count == b.count &&
         (a.kind != CollectiveKind::AllReduce || a.op == b.op);
}

/// "rank 1 all_reduce(sum) of 8 f32", as disagreement messages name a call.
inline std::string describe_collective(std::uint32_t rank, const CollectiveParams& p) {
  std::string s = "rank " + std::to_string(rank) + " " + to_string(p.kind);
  if (p.kind == CollectiveKind::AllReduce) s += "(" + std::string(to_string(p.op)) + ")";
  return s + " of " + std::to_string(p.count) + " f32";
}

/// True for a dispatch of a collective kernel.
inline bool is_collective(const Node& n) noexcept {
  return n.kind == NodeKind::Dispatch && n.kernel != nullptr && n.kernel->op == OpKind::Collective;
}

/// True for a dispatch that launches a kernel of ours (not a barrier, not a collective).
inline bool is_kernel_dispatch(const Node& n) noexcept {
  return n.kind == NodeKind::Dispatch && !is_collective(n);
}

/// The message every rank of a failed group reports: "collective group 'tp' of 2 ranks failed:
/// <why>" (the CPU rendezvous and the NCCL group word it alike).
inline std::string group_failure(std::string_view label, std::uint32_t ranks,
                                 const std::string& why) {
  return "collective group" + (label.empty() ? std::string() : " '" + std::string(label) + "'") +
         " of " + std::to_string(ranks) + " ranks failed: " + why;
}

/// A collective dispatch of a command list: its params and the addresses of its data (on the
/// allocation's device; all_reduce works in place, so `in` equals `out`).
struct CollectiveCall {
  CollectiveParams params;
  const void* in = nullptr;
  void* out = nullptr;
  std::string_view label;
};

/// The call of collective dispatch `node` (is_collective) of `list`.
inline CollectiveCall collective_call(const CommandList& list, std::uint32_t node) {
  const Node& n = list.nodes[node];
  const auto args = list.node_args(n).first(n.kernel_args);
  CollectiveCall call;
  std::memcpy(&call.params, list.value_bytes(args.back()), sizeof(CollectiveParams));
  const auto address = [&](const BoundArg& a) {
    return static_cast<void*>(list.resources[a.resource]->host_bytes(a.offset));
  };
  call.in = address(args[0]);
  call.out = call.params.kind == CollectiveKind::AllReduce ? address(args[0]) : address(args[1]);
  call.label = list.node_label(n);
  return call;
}

}  // namespace encore::detail
