#pragma once

// What an Encoder owns while Open: the command list being built and its device.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "encore/encoder.h"

#include "core/command_builder.h"
#include "runtime/device_impl.h"

namespace encore::detail {

class EncoderImpl {
 public:
  EncoderImpl(std::shared_ptr<DeviceImpl> device, const EncoderOptions& options);

  Submission commit(std::string_view label, const CommitOptions& options);
  Recording finish();
  /// Drops the work; counts a discarded command buffer when there was any.
  void discard() noexcept;

  /// Valid only while the encoder is Open.
  CommandBuilder& builder() { return builder_; }

  Ordering ordering() const noexcept { return ordering_; }
  /// The label and counts: live while Open, as they were when the encoder closed afterwards.
  std::string_view label() const noexcept;
  std::size_t dispatch_count() const noexcept;
  std::size_t barrier_count() const noexcept;

 private:
  /// Ends building: adds the encoder's counts to the device, remembers the command buffer's size
  /// and label, and hands over the list.
  std::shared_ptr<CommandList> close() noexcept;
  /// The encoder's passes applied to the list being built (which stays as it is, so a throw
  /// leaves the encoder open); null without passes.
  std::shared_ptr<CommandList> optimized();

  std::shared_ptr<DeviceImpl> device_;
  Ordering ordering_;
  bool retain_buffers_;
  PassPipeline passes_;
  CommandBuilder builder_;
  bool closed_ = false;
  std::string closed_label_;
  std::size_t closed_dispatches_ = 0;
  std::size_t closed_barriers_ = 0;
};

}  // namespace encore::detail
