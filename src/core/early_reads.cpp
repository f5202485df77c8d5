#include "core/early_reads.h"

namespace encore::detail {

std::vector<std::uint8_t> early_read_hazards(const CommandList& list) {
  std::vector<std::uint8_t> hazards(list.nodes.size(), 0);
  // Bytes written so far, per resource. The ranges are few (a decode step writes a handful of
  // activation buffers), and resources read before a wait (weights) are rarely written at all.
  std::vector<std::vector<ByteRange>> written(list.resources.size());
  for (std::size_t i = 0; i < list.nodes.size(); ++i) {
    const Node& n = list.nodes[i];
    if (n.kind != NodeKind::Dispatch) continue;
    const std::span<const BoundArg> args = list.node_args(n);
    if (n.kernel != nullptr && n.kernel->programmatic_dependency) {
      for (std::uint32_t a = 0; a < n.kernel_args && a < n.kernel->params.size(); ++a) {
        const BoundArg& arg = args[a];
        if (!n.kernel->params[a].read_before_wait || arg.kind != Arg::Kind::Buffer) continue;
        const ByteRange read{arg.offset, arg.offset + arg.size};
        for (const ByteRange& w : written[arg.resource]) {
          if (overlaps(read, w)) {
            hazards[i] = 1;
            break;
          }
        }
        if (hazards[i] != 0) break;
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
