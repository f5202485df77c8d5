#pragma once

// Builds one CommandList: validates each dispatch, binds its args, and orders it according to
// the encoder's Ordering (serial edges, explicit barriers, inferred barriers or inferred edges).
// This is the encoder's hot path; it allocates only when its flat arrays grow.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "encore/arg.h"
#include "encore/device.h"
#include "encore/encoder.h"
#include "encore/kernel.h"
#include "encore/launch.h"

#include "core/command_list.h"
#include "core/command_list_pool.h"
#include "core/dispatch_validation.h"
#include "core/hazard_tracker.h"
#include "core/stats_counters.h"

namespace encore::detail {

struct CommandBuilderConfig {
  std::shared_ptr<CommandListPool> pool;
  std::uint32_t device_id = 0;
  const DeviceLimits* limits = nullptr;
  Ordering ordering = Ordering::AutoDag;
  ExecutionPath path = ExecutionPath::Graph;
  std::shared_ptr<KernelRegistry> registry;
  std::string label;
  /// Capacity hints (e.g. the size of the previous command buffer).
  std::size_t expected_nodes = 0;
  std::size_t expected_args = 0;
};

class CommandBuilder {
 public:
  explicit CommandBuilder(CommandBuilderConfig config);

  /// Records a dispatch, or throws (leaving everything as it was).
  void dispatch(const Kernel& kernel, const Launch& launch, std::span<const Arg> args,
                const DispatchOptions& options);
  /// Records an explicit barrier; a no-op before the first dispatch.
  void barrier();
  /// The command buffer waits on `fence`.
  void wait(std::shared_ptr<FenceState> fence);
  /// Marks `view` hot for the command buffer (validated: not null, this device).
  void keep_hot(const BufferView& view);

  void set_label(std::string label) { list_->label = std::move(label); }
  const CommandList& list() const { return *list_; }
  const EncoderCounts& counts() const { return counts_; }

  /// Hands over the list (shared, recycled by the pool when its last owner lets go); the builder
  /// must not be used afterwards.
  std::shared_ptr<CommandList> take();

 private:
  std::uint32_t resource_of(const Allocation* alloc);
  void add_resource(const Allocation* alloc);
  std::uint32_t slot_of(const Arg& arg);
  void bind_args(std::span<const Arg> args, const DispatchOptions& options);
  void bind_extra(const BufferView& view, Access access);
  void append_barrier(const Hazard* inferred_from);
  void order_auto_dag(std::uint32_t node, std::uint32_t args_begin);
  Dependency dependency_of(const Hazard& hazard) const;
  void order_auto_barrier();
  Error with_context(Error error, const Kernel& kernel, const DispatchOptions& options) const;

  std::shared_ptr<CommandListPool> pool_;
  std::unique_ptr<CommandList> list_;
  std::unique_ptr<BuilderScratch> scratch_;
  Ordering ordering_;
  DispatchCheck check_;
  EncoderCounts counts_;
  std::uint32_t last_dispatch_ = kNoNode;
  std::uint32_t last_barrier_ = kNoNode;
};

}  // namespace encore::detail
