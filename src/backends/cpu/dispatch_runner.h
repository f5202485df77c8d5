#pragma once

// Runs one dispatch node on the calling thread: binds its args and calls the kernel's CPU
// implementation once per block.

#include <cstddef>
#include <span>
#include <vector>

#include "encore/kernel.h"

#include "core/command_list.h"

namespace encore::detail {

/// Per-thread storage reused across dispatches.
struct WorkerScratch {
  std::vector<CpuArg> args;
  std::vector<std::byte> shared;
};

/// Byte written into shared-memory scratch in validation mode, so kernels that read shared memory
/// before writing it misbehave visibly instead of reading stale zeros.
inline constexpr std::byte kSharedPoison{0xCD};

/// Runs node `index` of `list`. Throws whatever the kernel throws.
void run_dispatch(const CommandList& list, std::size_t index,
                  std::span<const std::byte> slot_values, WorkerScratch& scratch,
                  bool poison_shared);

}  // namespace encore::detail
