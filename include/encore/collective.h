#pragma once

// Collectives as dispatches of a recording (docs/adr/0007-collectives.md).
//
// A Communicator is one rank of a group of devices, made with the others (create) or joined
// from an explicit config (join). all_reduce and all_gather record a dispatch
// of OpKind::Collective whose buffers are tagged like any other dispatch's (the data inout; the
// gathered input in, the output out), so every ordering mode orders them against the work around
// them, and the reorder pass treats them as fences. Each also writes the communicator's order
// token, so the collectives of one rank run in the order they were recorded, as every rank must
// call them in the same order.
//
// Every rank records the same collectives in the same order, with the same element counts and
// reduction ops. When they do not, every rank's collective fails (the submission with
// Error(KernelFailed)) with a message naming both calls; a rank that does not arrive within the
// group's timeout fails the others the same way, and abort() fails whoever waits. A group that
// failed stays failed: every later collective of it fails at once. Nothing hangs.
//
// Backends: the CPU backend runs collectives across CPU devices of one process (a rendezvous
// between their executors). The CUDA backend has no collective yet (NCCL child-graph nodes are
// planned): recording one on a CUDA device is refused with Error(UnknownKernel).

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "encore/buffer.h"
#include "encore/device.h"
#include "encore/encoder.h"

namespace encore {

namespace detail {
class CollectiveGroup;
}

enum class ReduceOp : std::uint8_t { Sum, Max };
std::string_view to_string(ReduceOp op) noexcept;

struct CommunicatorOptions {
  /// How long a rank waits for the others at a collective before the group fails.
  std::chrono::milliseconds timeout{10'000};
  /// Names the group in errors.
  std::string label;
};

/// One rank's part of a group formed by ranks that each join on their own (Communicator::join).
struct CommunicatorConfig {
  std::uint32_t ranks = 0;
  std::uint32_t rank = 0;
  /// Names the group: every rank joins with the same id (on CUDA this will carry the NCCL
  /// unique id, exchanged out of band; on the CPU any string agreed on within the process).
  std::string unique_id;
  std::chrono::milliseconds timeout{10'000};  ///< for joining, and for every collective
  std::string label;                          ///< names the group in errors
};

/// One rank of a group. Copies share the rank.
class Communicator {
 public:
  Communicator() = default;

  /// A group of one rank per device, ranks in the order given (all devices of this process).
  /// Throws Error(InvalidArgument) for no devices, a device given twice or a zero timeout.
  static std::vector<Communicator> create(std::span<const Device> devices,
                                          const CommunicatorOptions& options = {});

  /// Joins the group `config.unique_id` as rank `config.rank` of `config.ranks`, returning when
  /// every rank has joined (one thread per rank, each with its own device). Throws
  /// Error(InvalidArgument) for a rank outside [0, ranks), a rank joined twice, ranks that
  /// disagree on the group size, or a device joined for two ranks, and Error(KernelFailed)
  /// when the other ranks have not all joined within the timeout (the group then fails for
  /// every rank waiting). Once formed, the id may name a new group.
  static Communicator join(const Device& device, const CommunicatorConfig& config);

  explicit operator bool() const noexcept { return group_ != nullptr; }
  std::uint32_t rank() const noexcept { return rank_; }
  std::uint32_t size() const noexcept;
  const Device& device() const;
  /// Fails the group: ranks waiting at a collective, and every later collective, fail with
  /// `why`.
  void abort(std::string_view why) const;

  /// The group id and the rank's order token (internal: used by the encode functions).
  std::uint64_t group_id() const noexcept;
  const Buffer& order_token() const;

 private:
  std::shared_ptr<detail::CollectiveGroup> group_;
  std::uint32_t rank_ = 0;
  Device device_{nullptr};
  Buffer token_;
};

/// data (f32) = the elementwise `op` of every rank's data, on every rank. Throws
/// Error(InvalidArgument) for an empty or unaligned view, Error(WrongDevice) when data is not
/// on the communicator's device.
void all_reduce(Encoder& enc, const Communicator& comm, const BufferView& data,
                ReduceOp op = ReduceOp::Sum, std::string_view label = {});

/// out (f32, size() times in's elements) = every rank's `in`, in rank order. Throws
/// Error(InvalidArgument) when out's size is not size() times in's, or they overlap.
void all_gather(Encoder& enc, const Communicator& comm, const BufferView& in, const BufferView& out,
                std::string_view label = {});

}  // namespace encore
