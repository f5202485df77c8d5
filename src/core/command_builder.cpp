#include "core/command_builder.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "encore/error.h"

#include "core/allocation.h"
#include "core/fence_state.h"

namespace encore::detail {

CommandBuilder::CommandBuilder(CommandBuilderConfig config)
    : pool_(std::move(config.pool)),
      list_(pool_->acquire()),
      scratch_(pool_->acquire_scratch()),
      ordering_(config.ordering) {
  list_->id = next_command_list_id();
  list_->device_id = config.device_id;
  list_->ordering = config.ordering;
  list_->path = config.path;
  list_->label = std::move(config.label);
  list_->registry = std::move(config.registry);
  list_->nodes.reserve(config.expected_nodes);
  list_->args.reserve(config.expected_args);
  list_->values.reserve(config.expected_args);
  list_->deps.reserve(config.expected_nodes * 2);

  check_.device_id = config.device_id;
  check_.limits = config.limits;
}

inline std::uint32_t CommandBuilder::resource_of(const Allocation* alloc) {
  const auto next = static_cast<std::uint32_t>(list_->resources.size());
  auto [index, inserted] = scratch_->resource_index.find_or_insert(alloc->id, next);
  if (inserted) [[unlikely]]
    add_resource(alloc);
  return index;
}

void CommandBuilder::add_resource(const Allocation* alloc) {
  list_->resources.push_back(const_cast<Allocation*>(alloc));
  list_->retained.push_back(std::const_pointer_cast<Allocation>(alloc->shared_from_this()));
}

std::uint32_t CommandBuilder::slot_of(const Arg& arg) {
  for (std::size_t i = 0; i < list_->slots.size(); ++i) {
    if (list_->slots[i].name == arg.slot_name()) return static_cast<std::uint32_t>(i);
  }
  const auto bytes = arg.bytes();
  list_->slots.push_back({std::string(arg.slot_name()),
                          static_cast<std::uint32_t>(list_->slot_initial.size()),
                          static_cast<std::uint32_t>(bytes.size())});
  list_->slot_initial.insert(list_->slot_initial.end(), bytes.begin(), bytes.end());
  check_.slots = list_->slots;
  return static_cast<std::uint32_t>(list_->slots.size() - 1);
}

void CommandBuilder::bind_args(std::span<const Arg> args, const DispatchOptions& options) {
  scratch_->accesses.clear();
  for (const Arg& arg : args) {
    switch (arg.kind()) {
      case Arg::Kind::Buffer: {
        const std::uint32_t resource = resource_of(arg.allocation());
        list_->args.push_back({.kind = Arg::Kind::Buffer,
                               .access = arg.access(),
                               .tagged = arg.tagged(),
                               .resource = resource,
                               .offset = arg.offset(),
                               .size = arg.size()});
        if (ordering_ == Ordering::AutoBarrier) {  // auto_dag reads the bound args directly
          scratch_->accesses.push_back(
              {resource, {arg.offset(), arg.offset() + arg.size()}, writes(arg.access())});
        }
        break;
      }
      case Arg::Kind::Value: {
        const auto bytes = arg.bytes();
        const auto first_word = static_cast<std::uint32_t>(list_->values.size());
        if (bytes.size() <= sizeof(std::uint64_t)) [[likely]] {  // scalars: one word
          std::uint64_t word = 0;
          std::memcpy(&word, bytes.data(), bytes.size());
          list_->values.push_back(word);
        } else {
          list_->values.resize(first_word + (bytes.size() + 7) / 8);
          std::memcpy(list_->values.data() + first_word, bytes.data(), bytes.size());
        }
        list_->args.push_back({.kind = Arg::Kind::Value,
                               .access = Access::In,
                               .size = bytes.size(),
                               .data = first_word});
        break;
      }
      case Arg::Kind::Slot:
        list_->args.push_back({.kind = Arg::Kind::Slot,
                               .access = Access::In,
                               .size = arg.bytes().size(),
                               .data = slot_of(arg)});
        break;
    }
  }
  for (const BufferView& v : options.extra_reads) bind_extra(v, Access::In);
  for (const BufferView& v : options.extra_writes) bind_extra(v, Access::Out);
}

void CommandBuilder::bind_extra(const BufferView& view, Access access) {
  BoundArg b;
  b.kind = Arg::Kind::Buffer;
  b.access = access;
  b.extra = true;
  b.resource = resource_of(view.buffer().allocation().get());
  b.offset = view.offset();
  b.size = view.size();
  if (ordering_ == Ordering::AutoBarrier) {
    scratch_->accesses.push_back({b.resource, view.range(), writes(access)});
  }
  list_->args.push_back(b);
}

Error CommandBuilder::with_context(Error error, const Kernel& kernel,
                                   const DispatchOptions& options) const {
  if (kernel) error.add_context("kernel '" + std::string(kernel.name()) + "'");
  std::string where = "dispatch #" + std::to_string(list_->nodes.size());
  if (!options.label.empty()) where += " '" + std::string(options.label) + "'";
  error.add_context(std::move(where));
  if (!list_->label.empty()) error.add_context("command buffer '" + list_->label + "'");
  return error;
}

void CommandBuilder::dispatch(const Kernel& kernel, const Launch& launch, std::span<const Arg> args,
                              const DispatchOptions& options) {
  try {
    validate_dispatch(check_, kernel, launch, args, options);
  } catch (Error& e) {
    throw with_context(std::move(e), kernel, options);
  }
  // Past validation nothing below throws except std::bad_alloc.
  const auto args_begin = static_cast<std::uint32_t>(list_->args.size());
  bind_args(args, options);
  // An inferred barrier is appended before the dispatch node (and before its deps start).
  if (ordering_ == Ordering::AutoBarrier) order_auto_barrier();
  const auto index = static_cast<std::uint32_t>(list_->nodes.size());
  const auto deps_begin = static_cast<std::uint32_t>(list_->deps.size());
  if (ordering_ == Ordering::Serial && last_dispatch_ != kNoNode) {
    list_->deps.push_back({last_dispatch_, DependencyKind::ProgramOrder, 0, {}, {}});
  } else if (ordering_ == Ordering::AutoDag) {
    order_auto_dag(index, args_begin);
  } else if (ordering_ == Ordering::AutoBarrier) {
    scratch_->tracker.record(index, scratch_->accesses);
  }
  const KernelDef& def = kernel.def();
  Node& node = list_->nodes.emplace_back();
  node.kind = NodeKind::Dispatch;
  node.op = options.op.value_or(def.op);
  node.kernel = &def;
  node.launch = launch;
  node.args_begin = args_begin;
  node.args_count = static_cast<std::uint32_t>(list_->args.size()) - args_begin;
  node.kernel_args = static_cast<std::uint32_t>(args.size());
  node.deps_begin = deps_begin;
  node.deps_count = static_cast<std::uint32_t>(list_->deps.size()) - deps_begin;
  node.label_begin = static_cast<std::uint32_t>(list_->label_arena.size());
  node.label_size = static_cast<std::uint32_t>(options.label.size());
  node.barrier_before = last_barrier_;
  if (!options.label.empty()) {
    list_->label_arena += options.label;
    list_->label_arena += '\0';  // so backends can hand the label to C APIs (NVTX)
  }
  ++list_->dispatch_count;
  if (def.op == OpKind::Collective) ++list_->collective_count;
  ++counts_.dispatches;
  last_dispatch_ = index;
}

void CommandBuilder::order_auto_barrier() {
  Hazard hazard;
  if (scratch_->tracker.first_conflict(scratch_->accesses, hazard)) {
    append_barrier(&hazard);
    scratch_->tracker.reset();
    ++counts_.barriers_inferred;
  } else {
    ++counts_.dispatches_concurrent;
  }
}

Dependency CommandBuilder::dependency_of(const Hazard& h) const {
  return {h.node, h.kind, list_->resources[h.resource]->id, h.earlier, h.later};
}

void CommandBuilder::order_auto_dag(std::uint32_t node, std::uint32_t args_begin) {
  std::vector<Hazard>& hazards = scratch_->hazards;
  hazards.clear();
  for (std::size_t i = args_begin; i < list_->args.size(); ++i) {
    const BoundArg& b = list_->args[i];
    if (b.kind != Arg::Kind::Buffer) continue;
    scratch_->tracker.access(node, {b.resource, {b.offset, b.offset + b.size}, writes(b.access)},
                             hazards);
  }
  if (hazards.empty()) return;
  if (hazards.size() == 1) {  // common: nothing to de-duplicate or prune
    list_->deps.push_back(dependency_of(hazards.front()));
    ++counts_.edges_inferred;
    return;
  }
  // Mark each earlier node once (the first hazard found for it, in arg order, names the edge),
  // then drop a node that another marked node already depends on directly.
  std::vector<std::uint32_t>& mark = scratch_->marks;
  if (mark.size() < node) mark.resize(node + node / 2 + 16, 0);
  const std::uint32_t candidate = 2 * ++scratch_->stamp;
  const std::uint32_t implied = candidate + 1;
  std::size_t unique = 0;
  for (std::size_t i = 0; i < hazards.size(); ++i) {
    if (mark[hazards[i].node] == candidate) continue;
    mark[hazards[i].node] = candidate;
    if (unique != i) hazards[unique] = hazards[i];
    ++unique;
  }
  hazards.resize(unique);
  for (const Hazard& h : hazards) {
    for (const Dependency& d : list_->node_deps(list_->nodes[h.node])) {
      if (mark[d.node] == candidate) mark[d.node] = implied;
    }
  }
  for (const Hazard& h : hazards) {
    if (mark[h.node] == implied) {
      ++counts_.edges_pruned;
      continue;
    }
    list_->deps.push_back(dependency_of(h));
    ++counts_.edges_inferred;
  }
}

void CommandBuilder::append_barrier(const Hazard* inferred_from) {
  Node barrier;
  barrier.kind = NodeKind::Barrier;
  barrier.inferred = inferred_from != nullptr;
  barrier.deps_begin = static_cast<std::uint32_t>(list_->deps.size());
  if (inferred_from != nullptr) list_->deps.push_back(dependency_of(*inferred_from));
  barrier.deps_count = static_cast<std::uint32_t>(list_->deps.size()) - barrier.deps_begin;
  barrier.barrier_before = last_barrier_;
  last_barrier_ = static_cast<std::uint32_t>(list_->nodes.size());
  list_->nodes.push_back(barrier);
  ++list_->barrier_count;
}

void CommandBuilder::barrier() {
  if (last_dispatch_ == kNoNode) return;  // nothing to order yet: a no-op, not counted
  append_barrier(nullptr);
  ++counts_.barriers_explicit;
  scratch_->tracker.reset();
}

std::shared_ptr<CommandList> CommandBuilder::take() {
  pool_->release_scratch(std::move(scratch_));
  return pool_->share(std::move(list_));
}

void CommandBuilder::keep_hot(const BufferView& view) {
  const Allocation* alloc = view.buffer().allocation().get();
  if (alloc == nullptr) throw Error(ErrorCode::InvalidArgument, "keep_hot of a null buffer view");
  if (alloc->device_id != check_.device_id) {
    throw Error(ErrorCode::WrongDevice, "keep_hot of " + alloc->describe() + " of device " +
                                            std::to_string(alloc->device_id) +
                                            ", but the encoder belongs to device " +
                                            std::to_string(check_.device_id));
  }
  list_->hot.push_back({resource_of(alloc), view.range()});
}

void CommandBuilder::wait(std::shared_ptr<FenceState> fence) {
  list_->waits.push_back(std::move(fence));
}

}  // namespace encore::detail
