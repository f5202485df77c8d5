#include "runtime/unique_id.h"

#include "encore/error.h"

namespace encore::detail {

namespace {

constexpr char kDigits[] = "0123456789abcdef";

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string encode_unique_id(std::span<const std::byte> bytes) {
  std::string text;
  text.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    text.push_back(kDigits[v >> 4]);
    text.push_back(kDigits[v & 0xF]);
  }
  return text;
}

std::vector<std::byte> decode_unique_id(std::string_view text) {
  if (text.size() % 2 != 0) {
    throw Error(ErrorCode::InvalidArgument, "the unique id has " + std::to_string(text.size()) +
                                                " hex digits; an encoded id has two per byte");
  }
  std::vector<std::byte> bytes(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const int v = digit_value(text[i]);
    if (v < 0) {
      throw Error(ErrorCode::InvalidArgument, "the unique id is not hex: character " +
                                                  std::to_string(i) + " is '" +
                                                  std::string(1, text[i]) + "'");
    }
    bytes[i / 2] |= static_cast<std::byte>(i % 2 == 0 ? v << 4 : v);
  }
  return bytes;
}

}  // namespace encore::detail
