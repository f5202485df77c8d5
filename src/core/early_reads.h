#pragma once

// Which dispatches of a command list read, before their programmatic wait, memory that an
// earlier dispatch of the list writes. A kernel with programmatic_dependency reads the buffers
// of its read_before_wait params (weights) while the kernels launched before it may still run:
// under programmatic dependent launch not only its covering predecessor, but any earlier kernel
// whose completion that one has not yet waited for. Such a dispatch must therefore not be
// launched programmatically; everything before it in the list completes first.

#include <cstdint>
#include <vector>

#include "core/command_list.h"

namespace encore::detail {

/// Per node of `list`: 1 when a read_before_wait buffer of its kernel overlaps bytes that a
/// dispatch before it in the list writes (a kernel arg or a declared extra range with Out or
/// InOut access), else 0.
std::vector<std::uint8_t> early_read_hazards(const CommandList& list);

}  // namespace encore::detail
