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
// Backends: a group's devices are all CPU or all CUDA.
// - CPU: collectives run across CPU devices of one process (a rendezvous between their
//   executors), which compares every call of every rank.
// - CUDA: each rank has an NCCL communicator (non-blocking, connected when it is set up). A
//   collective is one NCCL call: captured once into a child-graph node of the step's graph
//   (graph path), or issued on its stream (stream path). Before a recording's collectives first
//   run, every rank's list of them (op, count) is compared with the lists of the other ranks of
//   the process: ranks that disagree fail (Error(KernelFailed)) naming the first collective that
//   differs, without running it. Replays are not compared again, nor are ranks in other
//   processes: a disagreement with them, like a peer that fails or never calls, ends when the
//   timeout passes (counted from when the submission is the oldest of its device still running),
//   and then the communicator is aborted and the submission fails naming the collective, rank
//   and group size. The device stays usable; the communicator does not. Ranks of one process
//   may be submitted for by one thread in turn. Needs encore built with NCCL; without it,
//   forming a group of CUDA devices throws Error(BackendUnavailable).

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
  /// How long forming the group may take (on CUDA, NCCL's setup of the communicators: about a
  /// second in a fresh process, more on large machines).
  std::chrono::milliseconds setup_timeout{60'000};
  /// Names the group in errors.
  std::string label;
};

/// One rank's part of a group formed by ranks that each join on their own (Communicator::join).
struct CommunicatorConfig {
  std::uint32_t ranks = 0;
  std::uint32_t rank = 0;
  /// Names the group: every rank joins with the same id. On CUDA it is NCCL's unique id in the
  /// text of Communicator::new_unique_id, made by one rank and sent to the others out of band;
  /// on the CPU any string agreed on within the process (new_unique_id makes a fresh one).
  std::string unique_id;
  std::chrono::milliseconds timeout{10'000};        ///< for every collective
  std::chrono::milliseconds setup_timeout{60'000};  ///< for joining (every rank, NCCL's setup)
  std::string label;                                ///< names the group in errors
};

/// One rank of a group. Copies share the rank.
class Communicator {
 public:
  Communicator() = default;

  /// A group of one rank per device, ranks in the order given (all devices of this process).
  /// Throws Error(InvalidArgument) for no devices, a device (or a CUDA GPU) given twice, CPU and
  /// CUDA devices mixed, or a zero timeout; on CUDA, Error(KernelFailed) when NCCL cannot set the
  /// group up within the setup timeout, Error(BackendUnavailable) when encore is built without
  /// NCCL.
  static std::vector<Communicator> create(std::span<const Device> devices,
                                          const CommunicatorOptions& options = {});

  /// Joins the group `config.unique_id` as rank `config.rank` of `config.ranks`, returning when
  /// every rank has joined (one thread per rank, each with its own device). Throws
  /// Error(InvalidArgument) for a rank outside [0, ranks), a rank joined twice, ranks that
  /// disagree on the group size, or a device joined for two ranks, and Error(KernelFailed)
  /// when the other ranks have not all joined within the setup timeout (the group then fails for
  /// every rank waiting). Once formed, the id may name a new group.
  /// On a CUDA device NCCL forms the group: the ranks may be threads or processes, and join
  /// returns when every rank has joined (Error(KernelFailed) when that takes longer than the
  /// setup timeout; Error(InvalidArgument) for an id that is not one of new_unique_id's).
  static Communicator join(const Device& device, const CommunicatorConfig& config);

  /// A fresh id for ranks that join on their own (CommunicatorConfig::unique_id). On a CUDA
  /// device: NCCL's unique id as 256 hex digits, to be sent to every rank out of band; the
  /// process that makes it hosts the group's bootstrap, so it must live until every rank has
  /// joined. Throws Error(BackendUnavailable) there when encore is built without NCCL. On a CPU
  /// device: an id no other call of this process returns.
  static std::string new_unique_id(const Device& device);

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
