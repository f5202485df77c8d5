// Text and Graphviz renderings of a recording. Every edge and every inferred barrier carries its
// reason, so a dump explains the schedule.

#include <string>

#include "encore/recording.h"

#include "core/allocation.h"
#include "core/command_list.h"

namespace encore {

namespace {

std::string range(ByteRange r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

std::string buffer_name(const detail::CommandList& list, std::uint64_t id) {
  for (const detail::Allocation* a : list.resources) {
    if (a->id == id) return a->describe();
  }
  return "buf#" + std::to_string(id);
}

// "RAW buf#5 'x' [0, 64) -> [0, 32)" or "program-order".
std::string reason(const detail::CommandList& list, const Dependency& d) {
  std::string out(to_string(d.kind));
  if (d.buffer != 0) {
    out += " " + buffer_name(list, d.buffer) + " " + range(d.earlier) + " -> " + range(d.later);
  }
  return out;
}

std::string header(const detail::CommandList& list, std::size_t edges) {
  std::string out = "recording";
  if (!list.label.empty()) out += " '" + list.label + "'";
  out += ": " + std::to_string(list.nodes.size()) + " nodes (" +
         std::to_string(list.dispatch_count) + " dispatches, " +
         std::to_string(list.barrier_count) + " barriers), " + std::to_string(edges) +
         " edges, ordering " + std::string(to_string(list.ordering)) + ", device " +
         std::to_string(list.device_id);
  return out;
}

// Pass-made lists: where a node came from, "from #3+#5" (fused) or "was #7" (moved); empty when
// the node kept its index or the list was not made by a pass.
std::string provenance(const detail::CommandList& list, std::size_t index) {
  if (index >= list.origins.size()) return {};
  const detail::NodeOrigin& o = list.origins[index];
  if (o.second != detail::kNoNode) {
    return "from #" + std::to_string(o.first) + "+#" + std::to_string(o.second);
  }
  if (o.first != detail::kNoNode && o.first != index) return "was #" + std::to_string(o.first);
  return {};
}

// Why a barrier exists: inferred from a hazard, or explicit (and, when minimize kept it, the
// hazard across it).
std::string barrier_reason(const detail::CommandList& list, const detail::Node& n) {
  const auto deps = list.node_deps(n);
  if (n.inferred) {
    return "inferred: " + reason(list, deps.front()) + " after #" +
           std::to_string(deps.front().node);
  }
  if (deps.empty()) return "explicit";
  return "explicit, kept for " + reason(list, deps.front()) + " after #" +
         std::to_string(deps.front().node);
}

void append_dispatch(const detail::CommandList& list, std::size_t index, std::string& out) {
  const detail::Node& n = list.nodes[index];
  out += "#" + std::to_string(index) + " dispatch " + n.kernel->name;
  const std::string_view label = list.node_label(n);
  if (!label.empty()) out += " '" + std::string(label) + "'";
  out += " op=" + std::string(to_string(n.op)) + " grid=" + to_string(n.launch.grid()) +
         " block=" + to_string(n.launch.block());
  if (n.launch.shared_bytes() != 0) out += " shared=" + std::to_string(n.launch.shared_bytes());
  if (const std::string from = provenance(list, index); !from.empty()) out += " (" + from + ")";
  out += '\n';
  for (const detail::BoundArg& a : list.node_args(n)) {
    out += "    ";
    switch (a.kind) {
      case Arg::Kind::Buffer:
        out += std::string(to_string(a.access)) + (a.extra ? " (extra) " : " ") +
               list.resources[a.resource]->describe() + " " + range({a.offset, a.offset + a.size});
        break;
      case Arg::Kind::Value:
        out += "value " + std::to_string(a.size) + " bytes";
        break;
      case Arg::Kind::Slot:
        out += "slot '" + list.slots[a.data].name + "' " + std::to_string(a.size) + " bytes";
        break;
    }
    out += '\n';
  }
  for (const Dependency& d : list.node_deps(n)) {
    out += "    after #" + std::to_string(d.node) + ": " + reason(list, d) + '\n';
  }
}

// Escapes a DOT string literal; newlines become DOT line breaks.
std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string Recording::to_string() const {
  if (!list_) return "recording: empty\n";
  const detail::CommandList& list = *list_;
  std::string out = header(list, edge_count()) + '\n';
  for (const detail::CommandList::HotRange& h : list.hot) {
    out += "keep hot " + list.resources[h.resource]->describe() + " " + range(h.bytes) + '\n';
  }
  for (std::size_t i = 0; i < list.nodes.size(); ++i) {
    const detail::Node& n = list.nodes[i];
    if (n.kind == NodeKind::Dispatch) {
      append_dispatch(list, i, out);
      continue;
    }
    out += "#" + std::to_string(i) + " barrier (" + barrier_reason(list, n) + ")";
    if (const std::string from = provenance(list, i); !from.empty()) out += " (" + from + ")";
    out += '\n';
  }
  return out;
}

std::string Recording::to_dot() const {
  std::string out = "digraph recording {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n";
  if (!list_) return out + "}\n";
  const detail::CommandList& list = *list_;
  out += "  label=\"" + escape(header(list, edge_count())) + "\";\n";
  for (std::size_t i = 0; i < list.nodes.size(); ++i) {
    const detail::Node& n = list.nodes[i];
    const std::string id = "n" + std::to_string(i);
    if (n.kind == NodeKind::Barrier) {
      out += "  " + id + " [shape=box, style=filled, fillcolor=lightgrey, label=\"#" +
             std::to_string(i) + " barrier\\n" + escape(barrier_reason(list, n)) + "\"];\n";
      continue;
    }
    std::string label = "#" + std::to_string(i) + " " + n.kernel->name;
    const std::string_view user_label = list.node_label(n);
    if (!user_label.empty()) label += "\n" + std::string(user_label);
    label += "\n" + std::string(encore::to_string(n.op));
    if (const std::string from = provenance(list, i); !from.empty()) label += "\n" + from;
    out += "  " + id + " [label=\"" + escape(label) + "\"];\n";
  }
  // Recorded dependencies are solid and labelled; ordering that comes from barriers is dashed.
  detail::for_each_ordering_edge(
      list, [&](std::uint32_t from, std::uint32_t to, const Dependency* d) {
        out += "  n" + std::to_string(from) + " -> n" + std::to_string(to);
        out += d != nullptr ? " [label=\"" + escape(reason(list, *d)) + "\"];\n"
                            : std::string(" [style=dashed];\n");
      });
  return out + "}\n";
}

}  // namespace encore
