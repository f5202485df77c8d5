#include "encore/recording.h"

#include <algorithm>
#include <string>

#include "encore/error.h"

#include "core/allocation.h"
#include "core/command_list.h"

namespace encore {

std::string_view to_string(NodeKind kind) noexcept {
  return kind == NodeKind::Dispatch ? "dispatch" : "barrier";
}

std::string_view to_string(DependencyKind kind) noexcept {
  switch (kind) {
    case DependencyKind::ReadAfterWrite:
      return "RAW";
    case DependencyKind::WriteAfterRead:
      return "WAR";
    case DependencyKind::WriteAfterWrite:
      return "WAW";
    case DependencyKind::ProgramOrder:
      return "program-order";
    case DependencyKind::Explicit:
      return "explicit";
  }
  return "?";
}

Recording::Recording(std::shared_ptr<const detail::CommandList> list,
                     std::vector<std::byte> slot_values)
    : list_(std::move(list)), slot_values_(std::move(slot_values)) {}

std::size_t Recording::node_count() const noexcept { return list_ ? list_->nodes.size() : 0; }
std::size_t Recording::dispatch_count() const noexcept { return list_ ? list_->dispatch_count : 0; }
std::size_t Recording::barrier_count() const noexcept { return list_ ? list_->barrier_count : 0; }

std::size_t Recording::edge_count() const noexcept {
  if (!list_) return 0;
  std::size_t n = 0;
  for (const detail::Node& node : list_->nodes) {
    if (node.kind == NodeKind::Dispatch) n += node.deps_count;
  }
  return n;
}

std::string_view Recording::label() const noexcept {
  return list_ ? std::string_view(list_->label) : std::string_view();
}
Ordering Recording::ordering() const noexcept {
  return list_ ? list_->ordering : Ordering::AutoDag;
}
std::uint32_t Recording::device_id() const noexcept { return list_ ? list_->device_id : 0; }

NodeInfo Recording::node(std::size_t index) const {
  if (!list_ || index >= list_->nodes.size()) {
    throw Error(ErrorCode::OutOfRange, "node " + std::to_string(index) + " of a recording with " +
                                           std::to_string(node_count()) + " nodes");
  }
  const detail::Node& n = list_->nodes[index];
  NodeInfo info;
  info.kind = n.kind;
  info.index = index;
  info.dependencies = list_->node_deps(n);
  info.inferred = n.inferred;
  if (n.barrier_before != detail::kNoNode) info.barrier_before = n.barrier_before;
  if (index < list_->origins.size()) {
    for (std::uint32_t o : {list_->origins[index].first, list_->origins[index].second}) {
      if (o != detail::kNoNode) info.origins.push_back(o);
    }
  }
  if (n.kind == NodeKind::Barrier) return info;
  info.kernel = n.kernel->name;
  info.op = n.op;
  info.label = list_->node_label(n);
  info.launch = n.launch;
  const auto args = list_->node_args(n);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const detail::BoundArg& a = args[i];
    if (a.kind != Arg::Kind::Buffer) continue;
    info.accesses.push_back({list_->resources[a.resource]->id,
                             {a.offset, a.offset + a.size},
                             a.access,
                             a.extra ? -1 : static_cast<int>(i)});
  }
  return info;
}

std::vector<std::string> Recording::slot_names() const {
  std::vector<std::string> out;
  if (!list_) return out;
  for (const detail::SlotInfo& s : list_->slots) out.push_back(s.name);
  return out;
}

void Recording::set(std::string_view slot, std::span<const std::byte> bytes) {
  if (!list_) throw Error(ErrorCode::InvalidState, "set() on an empty Recording");
  for (const detail::SlotInfo& s : list_->slots) {
    if (s.name != slot) continue;
    if (bytes.size() != s.size) {
      throw Error(ErrorCode::InvalidArgument, "slot '" + s.name + "' holds " +
                                                  std::to_string(s.size) + " bytes, got " +
                                                  std::to_string(bytes.size()));
    }
    std::copy(bytes.begin(), bytes.end(), slot_values_.begin() + s.offset);
    return;
  }
  std::string known;
  for (const detail::SlotInfo& s : list_->slots) known += (known.empty() ? "" : ", ") + s.name;
  throw Error(ErrorCode::InvalidArgument, "recording has no slot '" + std::string(slot) +
                                              "' (slots: " + (known.empty() ? "none" : known) +
                                              ")");
}

}  // namespace encore
