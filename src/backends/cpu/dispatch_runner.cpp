#include "backends/cpu/dispatch_runner.h"

#include <algorithm>

#include "core/allocation.h"

namespace encore::detail {

void run_dispatch(const CommandList& list, std::size_t index,
                  std::span<const std::byte> slot_values, WorkerScratch& scratch,
                  bool poison_shared) {
  const Node& node = list.nodes[index];
  scratch.args.clear();
  for (const BoundArg& a : list.node_args(node).first(node.kernel_args)) {
    CpuArg arg;
    arg.size = a.size;
    switch (a.kind) {
      case Arg::Kind::Buffer:
        arg.data = list.resources[a.resource]->host_bytes(a.offset);
        arg.is_buffer = true;
        break;
      case Arg::Kind::Value:
        // Kernels read values through CpuKernelContext::value (memcpy), never write them.
        arg.data = const_cast<std::byte*>(list.value_bytes(a));
        break;
      case Arg::Kind::Slot:
        arg.data = const_cast<std::byte*>(slot_values.data() + list.slots[a.data].offset);
        break;
    }
    scratch.args.push_back(arg);
  }
  const Launch& launch = node.launch;
  scratch.shared.resize(launch.shared_bytes());
  if (poison_shared) std::fill(scratch.shared.begin(), scratch.shared.end(), kSharedPoison);

  CpuKernelContext ctx(launch.grid(), launch.block(), scratch.args, scratch.shared);
  const CpuKernelFn& kernel = node.kernel->cpu;
  const Dim3 grid = launch.grid();
  for (std::uint32_t z = 0; z < grid.z; ++z) {
    for (std::uint32_t y = 0; y < grid.y; ++y) {
      for (std::uint32_t x = 0; x < grid.x; ++x) {
        ctx.set_block_index({x, y, z});
        kernel(ctx);
      }
    }
  }
}

}  // namespace encore::detail
