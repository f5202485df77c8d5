#include "core/dispatch_validation.h"

#include <string>

#include "encore/error.h"

#include "core/allocation.h"
#include "core/command_list.h"

namespace encore::detail {

namespace {

std::string describe_param(const Param& p) {
  if (p.kind == Param::Kind::Value) return std::to_string(p.value_size) + "-byte value";
  return "buffer (" + std::string(to_string(p.access)) + ")";
}

std::string describe_arg(const Arg& a) {
  switch (a.kind()) {
    case Arg::Kind::Buffer:
      return "a buffer (" + std::string(to_string(a.access())) + ")";
    case Arg::Kind::Value:
      return "a " + std::to_string(a.bytes().size()) + "-byte value";
    case Arg::Kind::Slot:
      return "slot '" + std::string(a.slot_name()) + "' of " + std::to_string(a.bytes().size()) +
             " bytes";
  }
  return "?";
}

std::string arg_name(std::size_t index, const Param& param) {
  return "arg " + std::to_string(index) + " ('" + param.name + "')";
}

[[noreturn]] void fail_arg(ErrorCode code, std::size_t index, const Param& param,
                           const std::string& why) {
  throw Error(code, arg_name(index, param) + " " + why);
}

// `where()` names the binding; it is only called on failure, keeping the valid path free of
// string building.
template <class Where>
void check_buffer_device(const Allocation* alloc, std::uint32_t device_id, Where&& where) {
  if (alloc == nullptr) throw Error(ErrorCode::InvalidArgument, where() + " is a null buffer");
  if (alloc->device_id != device_id) {
    throw Error(ErrorCode::WrongDevice, where() + " is " + alloc->describe() + " of device " +
                                            std::to_string(alloc->device_id) +
                                            ", but the encoder belongs to device " +
                                            std::to_string(device_id));
  }
}

void check_buffer_arg(const DispatchCheck& check, const Arg& arg, const Param& param,
                      std::size_t index) {
  if (arg.kind() != Arg::Kind::Buffer) {
    fail_arg(ErrorCode::SignatureMismatch, index, param,
             "must be a " + describe_param(param) + ", got " + describe_arg(arg));
  }
  check_buffer_device(arg.allocation(), check.device_id, [&] { return arg_name(index, param); });
  if (arg.offset() > arg.allocation()->size || arg.size() > arg.allocation()->size - arg.offset()) {
    fail_arg(ErrorCode::OutOfRange, index, param,
             "view [" + std::to_string(arg.offset()) + ", +" + std::to_string(arg.size()) +
                 ") does not fit in " + arg.allocation()->describe());
  }
  const auto needed = static_cast<unsigned>(param.access);
  const auto given = static_cast<unsigned>(arg.access());
  if (arg.tagged() && (needed & ~given) != 0) {
    fail_arg(ErrorCode::SignatureMismatch, index, param,
             "is bound as " + std::string(to_string(arg.access())) + " but the kernel declares " +
                 std::string(to_string(param.access)));
  }
}

// `earlier` holds the args before this one in the same dispatch.
void check_value_arg(const DispatchCheck& check, const Arg& arg, const Param& param,
                     std::size_t index, std::span<const Arg> earlier) {
  if (arg.kind() == Arg::Kind::Buffer) {
    fail_arg(ErrorCode::SignatureMismatch, index, param,
             "must be a " + describe_param(param) + ", got " + describe_arg(arg));
  }
  const std::size_t size = arg.bytes().size();
  if (size > kMaxValueBytes) {
    fail_arg(ErrorCode::InvalidArgument, index, param,
             "is a value of " + std::to_string(size) + " bytes, over the " +
                 std::to_string(kMaxValueBytes) + "-byte parameter limit");
  }
  if (size != param.value_size) {
    fail_arg(ErrorCode::SignatureMismatch, index, param,
             "must be a " + describe_param(param) + ", got " + describe_arg(arg));
  }
  if (arg.kind() == Arg::Kind::Slot) {
    if (arg.slot_name().empty()) {
      fail_arg(ErrorCode::InvalidArgument, index, param, "is a slot without a name");
    }
    for (const SlotInfo& s : check.slots) {
      if (s.name == arg.slot_name() && s.size != size) {
        fail_arg(ErrorCode::SignatureMismatch, index, param,
                 "is slot '" + s.name + "' of " + std::to_string(size) +
                     " bytes, but the slot was first recorded with " + std::to_string(s.size));
      }
    }
    // check.slots holds earlier dispatches' slots only; a name repeated in this dispatch must
    // keep one size too, or one of its args would read bytes the slot does not have.
    for (std::size_t j = 0; j < earlier.size(); ++j) {
      const Arg& other = earlier[j];
      if (other.kind() == Arg::Kind::Slot && other.slot_name() == arg.slot_name() &&
          other.bytes().size() != size) {
        fail_arg(ErrorCode::SignatureMismatch, index, param,
                 "is slot '" + std::string(arg.slot_name()) + "' of " + std::to_string(size) +
                     " bytes, but arg " + std::to_string(j) + " binds it with " +
                     std::to_string(other.bytes().size()));
      }
    }
  }
}

}  // namespace

namespace {

// The launch checks as one branch-free predicate; the messages live in the slow path below.
bool launch_fits(const Launch& launch, const DeviceLimits& limits) {
  const Dim3 g = launch.grid();
  const Dim3 b = launch.block();
  // x - 1 < max wraps to a huge value for x == 0, so one compare checks 1 <= x <= max.
  return (g.x - 1U < limits.max_grid.x) & (g.y - 1U < limits.max_grid.y) &
         (g.z - 1U < limits.max_grid.z) & (b.x - 1U < limits.max_block.x) &
         (b.y - 1U < limits.max_block.y) & (b.z - 1U < limits.max_block.z) &
         (b.volume() <= limits.max_threads_per_block) &
         (launch.shared_bytes() <= limits.max_shared_bytes);
}

[[noreturn]] void throw_launch_error(const Launch& launch, const DeviceLimits& limits) {
  const Dim3 grid = launch.grid();
  const Dim3 block = launch.block();
  const auto fail = [](const std::string& why) { throw Error(ErrorCode::InvalidLaunch, why); };
  if (block.volume() == 0) fail("launch has an empty block " + to_string(block));
  if (grid.volume() == 0) {
    fail("launch has an empty grid " + to_string(grid) +
         (launch.from_threads() ? " from " + to_string(launch.total_threads()) + " threads" : ""));
  }
  if (block.volume() > limits.max_threads_per_block) {
    fail("block " + to_string(block) + " has " + std::to_string(block.volume()) +
         " threads; the device allows " + std::to_string(limits.max_threads_per_block));
  }
  if (block.x > limits.max_block.x || block.y > limits.max_block.y ||
      block.z > limits.max_block.z) {
    fail("block " + to_string(block) + " exceeds the device's block limits " +
         to_string(limits.max_block));
  }
  if (grid.x > limits.max_grid.x || grid.y > limits.max_grid.y || grid.z > limits.max_grid.z) {
    fail("grid " + to_string(grid) + " exceeds the device's grid limits " +
         to_string(limits.max_grid));
  }
  throw Error(ErrorCode::InvalidLaunch, "launch asks for " + std::to_string(launch.shared_bytes()) +
                                            " bytes of shared memory; the device allows " +
                                            std::to_string(limits.max_shared_bytes));
}

// Fast checks of one arg; anything unusual (or wrong) goes to the detailed checks, which throw
// with a message when something is wrong.
bool arg_plainly_valid(const DispatchCheck& check, const Arg& arg, const Param& param) {
  if (param.kind == Param::Kind::Buffer) {
    const Allocation* alloc = arg.allocation();
    const auto needed = static_cast<unsigned>(param.access);
    const auto given = static_cast<unsigned>(arg.access());
    return arg.kind() == Arg::Kind::Buffer && alloc != nullptr &&
           alloc->device_id == check.device_id && (!arg.tagged() || (needed & ~given) == 0);
  }
  // Param sizes are checked against kMaxValueBytes at registration, so an equal size is legal.
  return arg.kind() == Arg::Kind::Value && arg.bytes().size() == param.value_size;
}

}  // namespace

void validate_launch(const Launch& launch, const DeviceLimits& limits) {
  if (!launch_fits(launch, limits)) [[unlikely]]
    throw_launch_error(launch, limits);
}

void validate_dispatch(const DispatchCheck& check, const Kernel& kernel, const Launch& launch,
                       std::span<const Arg> args, const DispatchOptions& options) {
  if (!kernel) throw Error(ErrorCode::InvalidArgument, "dispatch of a null kernel");
  if (kernel.device_id() != check.device_id) {
    throw Error(ErrorCode::WrongDevice,
                "kernel was resolved on device " + std::to_string(kernel.device_id()) +
                    ", but the encoder belongs to device " + std::to_string(check.device_id));
  }
  const KernelDef& def = kernel.def();
  if (args.size() != def.params.size()) {
    std::string expected;
    for (const Param& p : def.params) {
      if (!expected.empty()) expected += ", ";
      expected += p.name;
    }
    throw Error(ErrorCode::SignatureMismatch, "kernel takes " + std::to_string(def.params.size()) +
                                                  " args (" + expected + "), got " +
                                                  std::to_string(args.size()));
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const Param& p = def.params[i];
    if (arg_plainly_valid(check, args[i], p)) [[likely]]
      continue;
    if (p.kind == Param::Kind::Buffer) {
      check_buffer_arg(check, args[i], p, i);
    } else {
      check_value_arg(check, args[i], p, i, args.first(i));
    }
  }
  for (std::size_t i = 0; i < options.extra_reads.size(); ++i) {
    check_buffer_device(options.extra_reads[i].buffer().allocation().get(), check.device_id,
                        [&] { return "extra read " + std::to_string(i); });
  }
  for (std::size_t i = 0; i < options.extra_writes.size(); ++i) {
    check_buffer_device(options.extra_writes[i].buffer().allocation().get(), check.device_id,
                        [&] { return "extra write " + std::to_string(i); });
  }
  validate_launch(launch, *check.limits);
}

}  // namespace encore::detail
