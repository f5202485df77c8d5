#pragma once

// The arguments of every dispatch of a command list, packed the way CUDA wants them: one byte
// block holding each argument's value (buffers as device addresses, values and slots as their
// bytes, each 8-byte aligned) and, per dispatch, an array of pointers into the block
// (cudaKernelNodeParams::kernelParams). CUDA copies the values when a node is created, patched or
// launched, so the block is reused from one submission to the next.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/command_list.h"

namespace encore::detail {

class PackedParams {
 public:
  /// Packs `list` with `slot_values` (the submission's slot bytes).
  void pack(const CommandList& list, std::span<const std::byte> slot_values);

  /// kernelParams of node `node` (null for barriers).
  void** pointers(std::uint32_t node) { return pointers_.data() + pointer_begin_[node]; }
  /// The packed bytes of node `node`'s arguments, to detect what changed between submissions.
  std::span<const std::byte> bytes(std::uint32_t node) const {
    return std::span<const std::byte>(bytes_).subspan(byte_begin_[node],
                                                      byte_begin_[node + 1] - byte_begin_[node]);
  }
  std::span<const std::byte> all_bytes() const { return bytes_; }
  std::span<const std::uint32_t> byte_offsets() const { return byte_begin_; }

 private:
  std::vector<std::byte> bytes_;
  std::vector<std::uint32_t> byte_begin_;     // per node, plus one past the end
  std::vector<std::uint32_t> pointer_begin_;  // per node
  std::vector<std::uint32_t> arg_offsets_;    // per kernel argument
  std::vector<void*> pointers_;               // per kernel argument
};

}  // namespace encore::detail
