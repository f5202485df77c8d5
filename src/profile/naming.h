#pragma once

// Names shared by profile records and NVTX ranges, so that what Nsight Systems shows and what
// Device::profile() reports agree.

#include <string_view>

namespace encore::detail {

/// The NVTX range of a command buffer without a label; the profile lists such submissions
/// under this name too.
inline constexpr const char* kUnlabelledCommandBuffer = "(unlabelled)";

/// A command buffer's name: its label, or kUnlabelledCommandBuffer.
inline const char* command_buffer_name(const char* label_or_null) {
  return label_or_null != nullptr && *label_or_null != '\0' ? label_or_null
                                                            : kUnlabelledCommandBuffer;
}

}  // namespace encore::detail
