#pragma once

// The recorded command buffer: plain structs in flat arrays (one vector per kind of thing, no
// allocation per dispatch). Built by CommandBuilder, immutable once built, shared by a
// Submission or a Recording and read by the backends and the dumps.
//
// Ordering semantics, which every backend implements:
//  - a dispatch node runs after every node in its `deps` and after `barrier_before` (if any);
//  - a barrier node runs after every node recorded since the previous barrier (and after that
//    barrier); it does nothing itself.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "encore/arg.h"
#include "encore/kernel.h"
#include "encore/launch.h"
#include "encore/options.h"
#include "encore/recording.h"
#include "encore/types.h"

namespace encore::detail {

struct Allocation;
struct FenceState;

inline constexpr std::uint32_t kNoNode = UINT32_MAX;

/// One argument as recorded.
struct BoundArg {
  Arg::Kind kind = Arg::Kind::Buffer;
  Access access = Access::InOut;
  bool extra = false;          ///< a declared extra range: tracked, not passed to the kernel
  bool tagged = true;          ///< false for untagged buffer args
  std::uint32_t resource = 0;  ///< buffers: index into CommandList::resources
  std::uint64_t offset = 0;    ///< buffers: byte offset in the allocation
  std::uint64_t size = 0;      ///< buffers: bytes; values/slots: bytes
  std::uint32_t data = 0;      ///< values: first word in `values`; slots: index into `slots`
};

struct Node {
  NodeKind kind = NodeKind::Dispatch;
  OpKind op = OpKind::Other;
  bool inferred = false;  ///< barriers inserted by auto_barrier
  const KernelDef* kernel = nullptr;
  Launch launch;
  std::uint32_t args_begin = 0;
  std::uint32_t args_count = 0;   ///< kernel args first, then extras
  std::uint32_t kernel_args = 0;  ///< args passed to the kernel (without extras)
  std::uint32_t deps_begin = 0;
  std::uint32_t deps_count = 0;
  std::uint32_t label_begin = 0;
  std::uint32_t label_size = 0;
  std::uint32_t barrier_before = kNoNode;
};

/// Where a node of a pass-made list came from: the index of the node (and, for a fused dispatch,
/// of the second node) in the list the pass read. kNoNode for a barrier a pass inferred.
struct NodeOrigin {
  std::uint32_t first = kNoNode;
  std::uint32_t second = kNoNode;
};

struct SlotInfo {
  std::string name;
  std::uint32_t offset = 0;  ///< into the slot value bytes
  std::uint32_t size = 0;
};

struct CommandList {
  /// Process-unique id of this list's contents (lists are recycled; ids never are). Lets a
  /// backend recognise a replay of the very same recording in O(1).
  std::uint64_t id = 0;
  std::uint32_t device_id = 0;
  ExecutionPath path = ExecutionPath::Graph;
  Ordering ordering = Ordering::AutoDag;
  std::string label;

  std::vector<Node> nodes;
  std::vector<BoundArg> args;
  std::vector<Dependency> deps;
  /// Value arg bytes, each value starting on its own 8-byte word.
  std::vector<std::uint64_t> values;
  std::string label_arena;

  /// Allocations bound by any node, in first-use order (BoundArg::resource indexes this).
  std::vector<Allocation*> resources;
  /// Owning references to `resources`; emptied at commit in unretained mode.
  std::vector<std::shared_ptr<Allocation>> retained;

  std::vector<SlotInfo> slots;
  std::vector<std::byte> slot_initial;

  /// Views to keep in L2 while the command buffer runs (Encoder::keep_hot).
  struct HotRange {
    std::uint32_t resource = 0;
    ByteRange bytes;
  };
  std::vector<HotRange> hot;

  /// Fences the command buffer waits on (their latest signal at submission time).
  std::vector<std::shared_ptr<FenceState>> waits;

  /// Keeps the KernelDefs the nodes point to alive.
  std::shared_ptr<KernelRegistry> registry;

  std::uint32_t dispatch_count = 0;
  std::uint32_t barrier_count = 0;
  /// Dispatches of OpKind::Collective: backends skip their collective work when it is 0.
  std::uint32_t collective_count = 0;

  /// Lists made by recording passes: one origin per node (empty for encoder-made lists).
  std::vector<NodeOrigin> origins;

  std::string_view node_label(const Node& n) const {
    return std::string_view(label_arena).substr(n.label_begin, n.label_size);
  }
  /// The label as a NUL-terminated string (labels are stored with a terminator); null if none.
  const char* node_label_c_str(const Node& n) const {
    return n.label_size == 0 ? nullptr : label_arena.c_str() + n.label_begin;
  }
  std::span<const BoundArg> node_args(const Node& n) const {
    return std::span<const BoundArg>(args).subspan(n.args_begin, n.args_count);
  }
  const std::byte* value_bytes(const BoundArg& a) const {
    return reinterpret_cast<const std::byte*>(values.data() + a.data);
  }
  std::span<const Dependency> node_deps(const Node& n) const {
    return std::span<const Dependency>(deps).subspan(n.deps_begin, n.deps_count);
  }
  /// "dispatch #3 'blk.0.add' (kernel add_f32)" for messages.
  std::string describe_node(std::size_t index) const;
  /// Empties the list but keeps the arrays' capacity (releases retained buffers).
  void clear() noexcept;
};

/// A process-unique id for a new list's contents (CommandList::id).
std::uint64_t next_command_list_id() noexcept;

/// Calls `edge(from, to, dependency)` for every ordering constraint of `list`, following the
/// semantics in the header comment. `dependency` is the recorded edge, or null for ordering that
/// comes from a barrier (a dispatch after its barrier, a barrier after its group).
template <class Edge>
void for_each_ordering_edge(const CommandList& list, Edge&& edge) {
  std::uint32_t group_start = 0;  // first node after the last barrier
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    const Node& n = list.nodes[i];
    if (n.kind == NodeKind::Barrier) {
      for (std::uint32_t j = group_start; j < i; ++j) edge(j, i, nullptr);
      if (group_start == i && n.barrier_before != kNoNode) edge(n.barrier_before, i, nullptr);
      group_start = i + 1;
      continue;
    }
    if (n.barrier_before != kNoNode) edge(n.barrier_before, i, nullptr);
    for (const Dependency& d : list.node_deps(n)) edge(d.node, i, &d);
  }
}

}  // namespace encore::detail
