#include "core/command_list.h"

#include <atomic>
#include <string>

#include "core/allocation.h"
#include "core/fence_state.h"

namespace encore::detail {

namespace {
std::atomic<std::uint64_t> g_next_list_id{1};
}  // namespace

std::uint64_t next_command_list_id() noexcept {
  return g_next_list_id.fetch_add(1, std::memory_order_relaxed);
}

std::string CommandList::describe_node(std::size_t index) const {
  const Node& n = nodes.at(index);
  std::string out = (n.kind == NodeKind::Dispatch ? "dispatch #" : "barrier #");
  out += std::to_string(index);
  const std::string_view node_name = node_label(n);
  if (!node_name.empty()) {
    out += " '";
    out += node_name;
    out += '\'';
  }
  if (n.kernel != nullptr) {
    out += " (kernel ";
    out += n.kernel->name;
    out += ')';
  }
  return out;
}

void CommandList::clear() noexcept {
  id = 0;
  device_id = 0;
  path = ExecutionPath::Graph;
  ordering = Ordering::AutoDag;
  label.clear();
  nodes.clear();
  args.clear();
  deps.clear();
  values.clear();
  label_arena.clear();
  resources.clear();
  retained.clear();
  slots.clear();
  slot_initial.clear();
  waits.clear();
  hot.clear();
  registry.reset();
  dispatch_count = 0;
  barrier_count = 0;
  origins.clear();
}

}  // namespace encore::detail
