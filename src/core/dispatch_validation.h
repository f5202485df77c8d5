#pragma once

// Checks one dispatch completely before anything is recorded, so a failing dispatch leaves the
// command buffer untouched. Errors name the arg index and parameter; the caller adds the kernel,
// dispatch and command buffer context.

#include <cstdint>
#include <span>
#include <string_view>

#include "encore/arg.h"
#include "encore/device.h"
#include "encore/encoder.h"
#include "encore/kernel.h"
#include "encore/launch.h"

namespace encore::detail {

struct SlotInfo;

struct DispatchCheck {
  std::uint32_t device_id = 0;
  const DeviceLimits* limits = nullptr;
  /// Slots recorded so far in this command buffer (a slot name keeps one size).
  std::span<const SlotInfo> slots;
};

/// Throws encore::Error describing the first problem found.
void validate_dispatch(const DispatchCheck& check, const Kernel& kernel, const Launch& launch,
                       std::span<const Arg> args, const DispatchOptions& options);

/// Throws Error(InvalidLaunch) when `launch` does not fit `limits`.
void validate_launch(const Launch& launch, const DeviceLimits& limits);

}  // namespace encore::detail
