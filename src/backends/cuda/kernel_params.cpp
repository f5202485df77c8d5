#include "backends/cuda/kernel_params.h"

#include <cstring>

#include "core/allocation.h"

namespace encore::detail {

namespace {

// Appends `size` bytes at an 8-byte aligned offset of `bytes`; returns the offset.
std::uint32_t append(std::vector<std::byte>& bytes, const void* data, std::size_t size) {
  const std::size_t at = (bytes.size() + 7) & ~std::size_t{7};
  bytes.resize(at + size);
  std::memcpy(bytes.data() + at, data, size);
  return static_cast<std::uint32_t>(at);
}

}  // namespace

void PackedParams::pack(const CommandList& list, std::span<const std::byte> slot_values) {
  bytes_.clear();
  byte_begin_.clear();
  pointer_begin_.clear();
  arg_offsets_.clear();
  for (const Node& node : list.nodes) {
    byte_begin_.push_back(static_cast<std::uint32_t>(bytes_.size()));
    pointer_begin_.push_back(static_cast<std::uint32_t>(arg_offsets_.size()));
    if (node.kind != NodeKind::Dispatch) continue;
    for (const BoundArg& a : list.node_args(node).first(node.kernel_args)) {
      switch (a.kind) {
        case Arg::Kind::Buffer: {
          void* address = list.resources[a.resource]->host_bytes(a.offset);  // a device address
          arg_offsets_.push_back(append(bytes_, &address, sizeof(address)));
          break;
        }
        case Arg::Kind::Value:
          arg_offsets_.push_back(append(bytes_, list.value_bytes(a), a.size));
          break;
        case Arg::Kind::Slot:
          arg_offsets_.push_back(
              append(bytes_, slot_values.data() + list.slots[a.data].offset, a.size));
          break;
      }
    }
  }
  // Pad the end to the alignment so each node's byte range is comparable as a whole.
  bytes_.resize((bytes_.size() + 7) & ~std::size_t{7});
  byte_begin_.push_back(static_cast<std::uint32_t>(bytes_.size()));
  // Pointers last: the block does not move any more.
  pointers_.resize(arg_offsets_.size());
  for (std::size_t i = 0; i < arg_offsets_.size(); ++i)
    pointers_[i] = bytes_.data() + arg_offsets_[i];
}

}  // namespace encore::detail
