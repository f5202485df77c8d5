#pragma once

// Recycles command lists and the builder's scratch between the command buffers of one device, so
// a steady stream of command buffers (a decode loop) allocates nothing: arrays keep their
// capacity, the big ones stay paged in. A list returns to the pool when its last owner (encoder,
// submission or recording) lets go of it.

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "core/command_list.h"
#include "core/hazard_tracker.h"
#include "core/resource_index.h"

namespace encore::detail {

/// Working state of a CommandBuilder that is not part of the command list.
struct BuilderScratch {
  HazardTracker tracker;
  ResourceIndex resource_index;
  std::vector<TrackedAccess> accesses;
  std::vector<Hazard> hazards;
  /// Per-node marks for de-duplicating and pruning edges: 2*stamp (a candidate) or 2*stamp+1
  /// (implied by another candidate) during the current dispatch. Stamps only grow, so marks
  /// left by earlier command buffers never match.
  std::vector<std::uint32_t> marks;
  std::uint32_t stamp = 0;

  void clear();
};

class CommandListPool : public std::enable_shared_from_this<CommandListPool> {
 public:
  /// An empty list, recycled when possible.
  std::unique_ptr<CommandList> acquire();
  /// Shares `list`; when the last owner lets go, the list is cleared and kept for reuse (or
  /// deleted, if the pool is gone or full).
  std::shared_ptr<CommandList> share(std::unique_ptr<CommandList> list);

  std::unique_ptr<BuilderScratch> acquire_scratch();
  void release_scratch(std::unique_ptr<BuilderScratch> scratch) noexcept;

 private:
  static constexpr std::size_t kKeep = 4;

  void recycle(CommandList* list) noexcept;

  std::mutex mutex_;
  std::vector<std::unique_ptr<CommandList>> lists_;
  std::vector<std::unique_ptr<BuilderScratch>> scratch_;
};

}  // namespace encore::detail
