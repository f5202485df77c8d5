#include "core/early_reads.h"

#include <algorithm>

namespace encore::detail {

std::vector<std::uint8_t> early_read_hazards(const CommandList& list) {
  std::vector<std::uint8_t> hazards(list.nodes.size(), 0);
  // Bytes written so far, per resource. The ranges are few (a decode step writes a handful of
  // activation buffers), and resources read before a wait (weights) are rarely written at all.
  std::vector<std::vector<ByteRange>> written(list.resources.size());
  const auto written_before = [&](const BoundArg& arg) {
    const ByteRange read{arg.offset, arg.offset + arg.size};
    const std::vector<ByteRange>& ranges = written[arg.resource];
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const ByteRange& w) { return overlaps(read, w); });
  };
  for (std::size_t i = 0; i < list.nodes.size(); ++i) {
    const Node& n = list.nodes[i];
    if (n.kind != NodeKind::Dispatch) continue;
    const std::span<const BoundArg> args = list.node_args(n);
    if (n.kernel != nullptr && n.kernel->programmatic_dependency) {
      for (std::uint32_t a = 0; a < n.kernel_args && a < n.kernel->params.size(); ++a) {
        if (n.kernel->params[a].read_before_wait && args[a].kind == Arg::Kind::Buffer &&
            written_before(args[a])) {
          hazards[i] = 1;
          break;
        }
      }
    }
    for (const BoundArg& arg : args) {
      if (arg.kind != Arg::Kind::Buffer || arg.access == Access::In) continue;
      written[arg.resource].push_back({arg.offset, arg.offset + arg.size});
    }
  }
  return hazards;
}

}  // namespace encore::detail
