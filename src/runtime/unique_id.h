#pragma once

// The text form of a group's unique id (Communicator::new_unique_id, CommunicatorConfig): bytes
// as lowercase hex, two digits per byte, so an id travels through any text channel (an
// environment variable, a file, a command line) between the processes of a group.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace encore::detail {

/// "00ff1a..." (lowercase, two digits per byte).
std::string encode_unique_id(std::span<const std::byte> bytes);

/// The bytes of an encoded id. Throws Error(InvalidArgument) naming the first character that is
/// not a hex digit, or an odd number of digits.
std::vector<std::byte> decode_unique_id(std::string_view text);

}  // namespace encore::detail
