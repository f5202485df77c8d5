#include "backends/cpu/write_validator.h"

#include <algorithm>
#include <string>

#include "core/allocation.h"

namespace encore::detail {

void WriteValidator::before() {
  snapshot_.resize(list_.resources.size());
  for (std::size_t r = 0; r < list_.resources.size(); ++r) {
    const Allocation* a = list_.resources[r];
    snapshot_[r].assign(a->host_bytes(), a->host_bytes() + a->size);
  }
}

namespace {

bool declared_written(const CommandList& list, const Node& node, std::uint32_t resource,
                      std::uint64_t byte) {
  for (const BoundArg& a : list.node_args(node)) {
    if (a.kind == Arg::Kind::Buffer && a.resource == resource && writes(a.access) &&
        byte >= a.offset && byte < a.offset + a.size) {
      return true;
    }
  }
  return false;
}

// How the dispatch bound `resource`, for the message ("arg 0 (in)", "not bound").
std::string binding_of(const CommandList& list, const Node& node, std::uint32_t resource) {
  std::string out;
  const auto args = list.node_args(node);
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].kind != Arg::Kind::Buffer || args[i].resource != resource) continue;
    if (!out.empty()) out += ", ";
    out += (args[i].extra ? "extra range (" : "arg " + std::to_string(i) + " (") +
           std::string(to_string(args[i].access)) + " [" + std::to_string(args[i].offset) + ", " +
           std::to_string(args[i].offset + args[i].size) + "))";
  }
  return out.empty() ? "which it does not bind" : "bound as " + out;
}

}  // namespace

std::optional<Error> WriteValidator::after(std::size_t node_index) const {
  const Node& node = list_.nodes[node_index];
  for (std::uint32_t r = 0; r < list_.resources.size(); ++r) {
    const Allocation* a = list_.resources[r];
    const std::byte* now = a->host_bytes();
    const std::vector<std::byte>& was = snapshot_[r];
    std::uint64_t first = a->size;
    std::uint64_t last = 0;
    std::uint64_t changed = 0;
    for (std::uint64_t b = 0; b < a->size; ++b) {
      if (now[b] == was[b] || declared_written(list_, node, r, b)) continue;
      first = std::min(first, b);
      last = b;
      ++changed;
    }
    if (changed == 0) continue;
    return Error(ErrorCode::UndeclaredWrite,
                 list_.describe_node(node_index) + " changed " + std::to_string(changed) +
                     " bytes in [" + std::to_string(first) + ", " + std::to_string(last + 1) +
                     ") of " + a->describe() + " (" + binding_of(list_, node, r) +
                     ") that it did not declare as written");
  }
  return std::nullopt;
}

}  // namespace encore::detail
