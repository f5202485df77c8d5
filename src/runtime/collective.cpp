// Communicator, the collective encode functions and the collective kernels' CPU implementation
// (include/encore/collective.h, docs/adr/0007-collectives.md). On CUDA devices the group's NCCL
// part (backends/nccl_groups.h) runs them instead.

#include "encore/collective.h"

#include <algorithm>
#include <string>

#include "encore/error.h"
#include "encore/kernel.h"

#include "backends/nccl_groups.h"
#include "runtime/collective_group.h"

namespace encore {

namespace detail {

namespace {

// The group of a kernel's params; fails the dispatch when the group is gone.
std::shared_ptr<CollectiveGroup> group_of(const CollectiveParams& p, const char* kernel) {
  std::shared_ptr<CollectiveGroup> g = CollectiveGroup::find(p.group);
  if (!g) {
    throw Error(ErrorCode::KernelFailed, std::string(kernel) + ": collective group " +
                                             std::to_string(p.group) +
                                             " no longer exists (every Communicator of it was "
                                             "destroyed)");
  }
  return g;
}

// params: data (inout), order token (inout), CollectiveParams.
void all_reduce_cpu(const CpuKernelContext& ctx) {
  const auto p = ctx.value<CollectiveParams>(2);
  float* data = ctx.ptr<float>(0);
  group_of(p, kAllReduceKernel)->run(p, data, data, kAllReduceKernel);
}

// params: in (in), out (out), order token (inout), CollectiveParams.
void all_gather_cpu(const CpuKernelContext& ctx) {
  const auto p = ctx.value<CollectiveParams>(3);
  group_of(p, kAllGatherKernel)
      ->run(p, ctx.ptr<const float>(0), ctx.ptr<float>(1), kAllGatherKernel);
}

[[noreturn]] void refuse(std::string_view op, std::string_view label, ErrorCode code,
                         const std::string& why) {
  std::string where(op);
  if (!label.empty()) where += " '" + std::string(label) + "'";
  throw Error(code, where + ": " + why);
}

void check_view(std::string_view op, std::string_view label, const char* name,
                const Communicator& comm, const BufferView& v) {
  if (!comm) refuse(op, label, ErrorCode::InvalidArgument, "the communicator is empty");
  if (!v.buffer()) refuse(op, label, ErrorCode::InvalidArgument, std::string(name) + " is null");
  if (v.size() == 0 || v.size() % 4 != 0 || v.offset() % 4 != 0) {
    refuse(op, label, ErrorCode::InvalidArgument,
           std::string(name) + " must be a non-empty, 4-byte aligned view of f32 elements (" +
               std::to_string(v.size()) + " bytes at offset " + std::to_string(v.offset()) + ")");
  }
  if (v.buffer().device_id() != comm.device().id()) {
    refuse(op, label, ErrorCode::WrongDevice,
           std::string(name) + " is a buffer of device " + std::to_string(v.buffer().device_id()) +
               ", but rank " + std::to_string(comm.rank()) + " of the communicator is device " +
               std::to_string(comm.device().id()));
  }
}

}  // namespace

void register_collective_kernels(KernelRegistry& registry) {
  const Param params = Param::value<CollectiveParams>("collective");
  registry.add({.name = kAllReduceKernel,
                .params = {Param::inout("data"), Param::inout("order"), params},
                .op = OpKind::Collective,
                .cpu = all_reduce_cpu});
  registry.add({.name = kAllGatherKernel,
                .params = {Param::in("in"), Param::out("out"), Param::inout("order"), params},
                .op = OpKind::Collective,
                .cpu = all_gather_cpu});
}

}  // namespace detail

std::string_view to_string(ReduceOp op) noexcept {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Max:
      return "max";
  }
  return "?";
}

std::vector<Communicator> Communicator::create(std::span<const Device> devices,
                                               const CommunicatorOptions& options) {
  if (devices.empty()) {
    throw Error(ErrorCode::InvalidArgument, "Communicator::create: no devices");
  }
  if (options.timeout.count() <= 0 || options.setup_timeout.count() <= 0) {
    throw Error(ErrorCode::InvalidArgument,
                "Communicator::create: the timeout and the setup timeout must be positive");
  }
  for (std::size_t i = 0; i < devices.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (devices[i].id() == devices[j].id()) {
        throw Error(ErrorCode::InvalidArgument, "Communicator::create: device " +
                                                    std::to_string(devices[i].id()) +
                                                    " is given twice (ranks " + std::to_string(j) +
                                                    " and " + std::to_string(i) + ")");
      }
    }
  }
  for (std::size_t i = 1; i < devices.size(); ++i) {
    if (devices[i].backend() != devices[0].backend()) {
      throw Error(ErrorCode::InvalidArgument,
                  "Communicator::create: rank 0 is a " +
                      std::string(to_string(devices[0].backend())) + " device, but rank " +
                      std::to_string(i) + " a " + std::string(to_string(devices[i].backend())) +
                      " device; a group's devices are all CPU or all CUDA");
    }
  }
  auto group = std::make_shared<detail::CollectiveGroup>(static_cast<std::uint32_t>(devices.size()),
                                                         options.timeout, options.label);
  if (devices[0].backend() == BackendKind::Cuda) {
    std::vector<int> ordinals;
    for (std::size_t i = 0; i < devices.size(); ++i) {
      ordinals.push_back(devices[i].options().cuda_ordinal);
      for (std::size_t j = 0; j < i; ++j) {
        if (ordinals[j] == ordinals[i]) {
          throw Error(ErrorCode::InvalidArgument,
                      "Communicator::create: ranks " + std::to_string(j) + " and " +
                          std::to_string(i) + " are both CUDA device " +
                          std::to_string(ordinals[i]) + " (NCCL needs one GPU per rank)");
        }
      }
    }
    group->set_nccl(detail::nccl_create_group({.id = group->id(),
                                               .ranks = group->ranks(),
                                               .timeout = options.timeout,
                                               .setup_timeout = options.setup_timeout,
                                               .label = options.label},
                                              ordinals));
  }
  detail::CollectiveGroup::publish(group);
  std::vector<Communicator> out(devices.size());
  for (std::size_t r = 0; r < devices.size(); ++r) {
    Communicator& c = out[r];
    c.group_ = group;
    c.rank_ = static_cast<std::uint32_t>(r);
    c.device_ = devices[r];  // a handle: the copy shares the device
    c.token_ = c.device_.alloc(4, "collective order token");
  }
  return out;
}

std::uint32_t Communicator::size() const noexcept { return group_ ? group_->ranks() : 0; }

const Device& Communicator::device() const {
  if (!group_) throw Error(ErrorCode::InvalidState, "the communicator is empty");
  return device_;
}

void Communicator::abort(std::string_view why) const {
  if (group_) group_->abort("by rank " + std::to_string(rank_) + ": " + std::string(why));
}

std::uint64_t Communicator::group_id() const noexcept { return group_ ? group_->id() : 0; }

const Buffer& Communicator::order_token() const {
  if (!group_) throw Error(ErrorCode::InvalidState, "the communicator is empty");
  return token_;
}

void all_reduce(Encoder& enc, const Communicator& comm, const BufferView& data, ReduceOp op,
                std::string_view label) {
  detail::check_view("all_reduce", label, "data", comm, data);
  const detail::CollectiveParams p{.group = comm.group_id(),
                                   .rank = comm.rank(),
                                   .kind = detail::CollectiveKind::AllReduce,
                                   .op = op,
                                   .count = static_cast<std::uint32_t>(data.size() / 4)};
  enc.dispatch(comm.device().kernel(detail::kAllReduceKernel), Launch::groups(1, 1),
               {inout(data), inout(comm.order_token()), value(p)}, {.label = label});
}

void all_gather(Encoder& enc, const Communicator& comm, const BufferView& input,
                const BufferView& output, std::string_view label) {
  detail::check_view("all_gather", label, "in", comm, input);
  detail::check_view("all_gather", label, "out", comm, output);
  if (output.size() != input.size() * comm.size()) {
    detail::refuse("all_gather", label, ErrorCode::InvalidArgument,
                   "out holds " + std::to_string(output.size()) + " bytes, but " +
                       std::to_string(comm.size()) + " ranks of " + std::to_string(input.size()) +
                       " bytes need " + std::to_string(input.size() * comm.size()));
  }
  if (input.buffer().id() == output.buffer().id() && overlaps(input.range(), output.range())) {
    detail::refuse("all_gather", label, ErrorCode::InvalidArgument, "out overlaps in");
  }
  const detail::CollectiveParams p{.group = comm.group_id(),
                                   .rank = comm.rank(),
                                   .kind = detail::CollectiveKind::AllGather,
                                   .count = static_cast<std::uint32_t>(input.size() / 4)};
  enc.dispatch(comm.device().kernel(detail::kAllGatherKernel), Launch::groups(1, 1),
               {in(input), out(output), inout(comm.order_token()), value(p)}, {.label = label});
}

}  // namespace encore
