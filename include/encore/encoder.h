#pragma once

/// \file
/// The encoder: records dispatches and barriers into one command buffer, infers dependencies
/// from declared buffer access, and either commits the command buffer to the device or turns it
/// into a Recording.
///
/// One encoder is one command buffer with a typed lifecycle:
///   Open --commit()--> Committed     Open --finish()--> Finished     Open --discard()--> Discarded
/// Any call that needs Open in another state throws Error(InvalidState). Dropping an Open encoder
/// discards its work (nothing is submitted; its buffers are released). `Device::encoder()` is
/// cheap, so take one per command buffer.
///
/// Thread safety: one thread at a time; an encoder may move between threads.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "encore/arg.h"
#include "encore/buffer.h"
#include "encore/fence.h"
#include "encore/kernel.h"
#include "encore/launch.h"
#include "encore/options.h"
#include "encore/passes.h"
#include "encore/recording.h"
#include "encore/submission.h"
#include "encore/types.h"

namespace encore {

namespace detail {
class EncoderImpl;
}  // namespace detail

/// Per-encoder choices; unset fields take the device's.
struct EncoderOptions {
  std::optional<Ordering> ordering;
  std::optional<bool> retain_buffers;
  /// CUDA: graph (default) or direct launches on streams.
  std::optional<ExecutionPath> path;
  /// Command buffer label (commit(label) replaces it).
  std::string label;
  /// Passes run on the command buffer at commit() and finish() (the device's
  /// DeviceOptions::passes when unset; an empty pipeline for none). A recording the passes refuse
  /// (an untagged buffer arg) makes commit()/finish() throw and leaves the encoder open.
  std::optional<PassPipeline> passes;
};

/// Per-dispatch metadata. Extra ranges declare memory the kernel touches that is not one of its
/// buffer args (e.g. through a pointer table); they take part in hazard tracking.
struct DispatchOptions {
  /// Op kind; unset means the kernel's.
  std::optional<OpKind> op;
  std::string_view label;
  std::span<const BufferView> extra_reads;
  std::span<const BufferView> extra_writes;
};

/// Per-commit choices.
struct CommitOptions {
  /// When set, the fence's next value is signalled when this command buffer finishes.
  Fence signal;
};

enum class EncoderState : std::uint8_t { Open, Committed, Finished, Discarded };
std::string_view to_string(EncoderState state) noexcept;

class Encoder {
 public:
  Encoder(Encoder&& other) noexcept;
  Encoder& operator=(Encoder&& other) noexcept;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;
  /// Discards uncommitted work. Never throws.
  ~Encoder();

  /// Records one dispatch. Everything is validated first (kernel device, arg count and kinds
  /// against the signature, accesses, value sizes, buffer devices, launch limits, shared memory);
  /// on error nothing is recorded and Error names the kernel, the arg index and the label.
  void dispatch(const Kernel& kernel, const Launch& launch, std::span<const Arg> args,
                const DispatchOptions& options = {});
  void dispatch(const Kernel& kernel, const Launch& launch, std::initializer_list<Arg> args,
                const DispatchOptions& options = {}) {
    dispatch(kernel, launch, std::span<const Arg>(args.begin(), args.size()), options);
  }

  /// Orders every dispatch recorded so far before every later one, in any ordering mode (auto
  /// modes also forget the tracked ranges). Before the first dispatch it is a no-op and is not
  /// counted.
  void barrier();

  /// The whole command buffer waits until `fence`'s latest committed signal has completed.
  void wait(const Fence& fence);

  /// A residency hint: keep `view` in the GPU's L2 cache while this command buffer runs. On CUDA
  /// the hot views of a command buffer become one L2 persisting access-policy window on every
  /// kernel it launches: the span from the lowest to the highest hot byte (clamped to the
  /// device's maximum window), with a hit ratio that fits the persisting L2 set-aside. Put data
  /// you mark hot close together (one allocation) for it to help. Only a hint: results never
  /// depend on it. The CPU backend ignores it.
  void keep_hot(const BufferView& view);

  /// Submits the command buffer without blocking. `label` (when not empty) replaces the
  /// encoder's label. The encoder becomes Committed. With passes (EncoderOptions::passes), the
  /// optimised command buffer is submitted; if the passes throw, nothing is submitted and the
  /// encoder stays Open.
  Submission commit(std::string_view label = {}, const CommitOptions& options = {});
  /// commit() then wait(): throws the submission's Error if it failed.
  Submission commit_and_wait(std::string_view label = {}, const CommitOptions& options = {});
  /// Ends the command buffer without submitting it and returns it as a Recording (after the
  /// encoder's passes, if any; if they throw, the encoder stays Open).
  Recording finish();
  /// Drops the recorded work. The encoder becomes Discarded.
  void discard();

  void set_label(std::string_view label);
  std::string_view label() const;
  EncoderState state() const noexcept;
  Ordering ordering() const;
  /// Dispatches and barriers recorded (so far, or when the encoder closed).
  std::size_t dispatch_count() const;
  std::size_t barrier_count() const;

  /// Internal: created by Device::encoder.
  explicit Encoder(std::unique_ptr<detail::EncoderImpl> impl) noexcept;

 private:
  /// The impl; throws InvalidState for a moved-from encoder.
  detail::EncoderImpl& live_impl(const char* operation) const;
  /// The impl of an Open encoder; throws InvalidState otherwise.
  detail::EncoderImpl& open_impl(const char* operation) const;

  std::unique_ptr<detail::EncoderImpl> impl_;
  EncoderState state_ = EncoderState::Open;
};

}  // namespace encore
