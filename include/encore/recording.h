#pragma once

/// \file
/// A recorded command buffer as a value: nodes (dispatches and barriers), the dependencies
/// between them with the reason for each, and the buffers they bind. Submit it to a device any
/// number of times (each submission is a replay); change its slots between submissions.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "encore/launch.h"
#include "encore/options.h"
#include "encore/types.h"

namespace encore {

namespace detail {
struct CommandList;
}  // namespace detail

enum class NodeKind : std::uint8_t { Dispatch, Barrier };

/// Why one node must run after another.
enum class DependencyKind : std::uint8_t {
  ReadAfterWrite,   ///< the later node reads bytes the earlier one writes
  WriteAfterRead,   ///< the later node writes bytes the earlier one reads
  WriteAfterWrite,  ///< both write the same bytes
  ProgramOrder,     ///< serial ordering: every dispatch follows the previous one
  Explicit,         ///< an explicit barrier() call
};

std::string_view to_string(NodeKind kind) noexcept;
/// "RAW", "WAR", "WAW", "program-order", "explicit".
std::string_view to_string(DependencyKind kind) noexcept;

/// One dependency edge: `node` (earlier) must finish before the node that owns the edge starts.
/// For hazards it names the buffer and both byte ranges.
struct Dependency {
  std::uint32_t node = 0;
  DependencyKind kind = DependencyKind::ProgramOrder;
  std::uint64_t buffer = 0;  ///< allocation id; 0 when not a hazard
  ByteRange earlier;         ///< bytes the earlier node touches
  ByteRange later;           ///< bytes the later node touches
};

/// One buffer a dispatch touches.
struct BufferAccess {
  std::uint64_t buffer = 0;  ///< allocation id
  ByteRange bytes;
  Access access = Access::InOut;
  int arg_index = -1;  ///< position in the args; -1 for an extra declared range
};

/// Everything about one node, for inspection and tests.
struct NodeInfo {
  NodeKind kind = NodeKind::Dispatch;
  std::size_t index = 0;
  // Dispatches.
  std::string_view kernel;
  OpKind op = OpKind::Other;
  std::string_view label;
  Launch launch;
  std::vector<BufferAccess> accesses;
  /// Dispatch: edges to earlier dispatches (auto_dag, serial). Inferred barrier: the hazard that
  /// caused it. Explicit barrier: the hazard across it when the minimize pass kept it for one,
  /// else empty.
  std::span<const Dependency> dependencies;
  /// Barriers: true when auto_barrier ordering inserted it.
  bool inferred = false;
  /// The barrier node that precedes this one, if any (it orders everything before it).
  std::optional<std::size_t> barrier_before;
  /// Recordings made by passes: the node(s) of the pass's input this one stands for (two for a
  /// fused dispatch, none for a barrier a pass inferred). Empty for encoder-made recordings.
  std::vector<std::size_t> origins;
};

/// A recorded command buffer. Copies share the recorded nodes (immutable) and own their slot
/// values. Not thread-safe for concurrent set(); submitting from several threads is fine.
class Recording {
 public:
  Recording() = default;

  explicit operator bool() const noexcept { return list_ != nullptr; }

  std::size_t node_count() const noexcept;
  std::size_t dispatch_count() const noexcept;
  std::size_t barrier_count() const noexcept;
  /// Dependency edges between dispatches (not counting barrier ordering).
  std::size_t edge_count() const noexcept;
  /// Throws Error(OutOfRange) for a bad index.
  NodeInfo node(std::size_t index) const;

  std::string_view label() const noexcept;
  Ordering ordering() const noexcept;
  std::uint32_t device_id() const noexcept;

  /// Names of the slots, in first-use order.
  std::vector<std::string> slot_names() const;
  /// Sets a slot for later submissions. Throws Error(InvalidArgument) for an unknown name or a
  /// size that differs from the slot's.
  void set(std::string_view slot, std::span<const std::byte> bytes);
  template <class T>
  void set(std::string_view slot, const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    // Dynamic extent: a fixed-extent span would pick this template again (endless recursion).
    set(slot, std::span<const std::byte>(std::as_bytes(std::span<const T, 1>(&v, 1))));
  }

  /// Human-readable listing: one line per node, one per dependency with its reason.
  std::string to_string() const;
  /// Graphviz DOT: dispatches as ellipses, barriers as boxes, edges labelled with their reason.
  std::string to_dot() const;

  /// Internal.
  Recording(std::shared_ptr<const detail::CommandList> list, std::vector<std::byte> slot_values);
  const detail::CommandList& commands() const noexcept { return *list_; }
  const std::shared_ptr<const detail::CommandList>& shared_commands() const noexcept {
    return list_;
  }
  std::span<const std::byte> slot_values() const noexcept { return slot_values_; }

 private:
  std::shared_ptr<const detail::CommandList> list_;
  std::vector<std::byte> slot_values_;
};

}  // namespace encore
