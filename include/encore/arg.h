#pragma once

/// \file
/// Kernel arguments: a buffer view with its access, an inline value, or a patchable slot.
///
/// An Arg is a transient descriptor, like std::string_view: a buffer arg refers to the buffer's
/// allocation without owning it, so the buffer must stay alive until `dispatch()` returns (from
/// then on the command buffer holds it). Build args inside the dispatch call:
///   enc.dispatch(add, launch, {in(a), in(b), out(c), value(n)});

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "encore/buffer.h"
#include "encore/types.h"

namespace encore {

class Arg {
 public:
  enum class Kind : std::uint8_t { Buffer, Value, Slot };

  /// Values up to this size live inside the Arg; larger ones (up to kMaxValueBytes) on the heap.
  static constexpr std::size_t kInlineValueBytes = 64;

  Arg(const Arg& other);
  Arg& operator=(const Arg& other);
  Arg(Arg&&) noexcept = default;
  Arg& operator=(Arg&&) noexcept = default;
  ~Arg() = default;

  Kind kind() const noexcept { return kind_; }
  /// Buffers: the declared access (InOut when untagged).
  Access access() const noexcept { return access_; }
  /// Buffers: false for `buffer(view)`, which declares no access and counts as inout.
  bool tagged() const noexcept { return tagged_; }

  /// Buffers: the allocation (borrowed), and the view's bytes.
  const detail::Allocation* allocation() const noexcept { return alloc_; }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t size() const noexcept { return size_; }

  /// Values and slots: the bytes (the initial value for slots).
  std::span<const std::byte> bytes() const noexcept {
    return {extra_ && !extra_->big_value.empty() ? extra_->big_value.data() : inline_, value_size_};
  }
  /// Slots: the name used by Recording::set.
  std::string_view slot_name() const noexcept {
    return extra_ ? std::string_view(extra_->slot_name) : std::string_view();
  }

  /// Building blocks of the free functions below (inline: they run once per argument).
  static Arg make_buffer(const BufferView& view, Access access, bool tagged) noexcept {
    return Arg(view.buffer().allocation().get(), view.offset(), view.size(), access, tagged);
  }
  static Arg make_buffer(const Buffer& whole, Access access, bool tagged) noexcept {
    return Arg(whole.allocation().get(), 0, whole.size(), access, tagged);
  }
  static Arg make_value(std::span<const std::byte> bytes) {
    Arg a;
    a.set_bytes(bytes);
    return a;
  }
  static Arg make_slot(std::string name, std::span<const std::byte> initial) {
    Arg a;
    a.kind_ = Kind::Slot;
    a.extra_ = std::make_unique<Extra>();
    a.extra_->slot_name = std::move(name);
    a.set_bytes(initial);
    return a;
  }

 private:
  Arg() noexcept {}  // NOLINT: leaves the inline value storage uninitialised on purpose
  Arg(const detail::Allocation* alloc, std::uint64_t offset, std::uint64_t size, Access access,
      bool tagged) noexcept
      : kind_(Kind::Buffer),
        access_(access),
        tagged_(tagged),
        alloc_(alloc),
        offset_(offset),
        size_(size) {}
  void set_bytes(std::span<const std::byte> bytes) {
    value_size_ = static_cast<std::uint32_t>(bytes.size() < UINT32_MAX ? bytes.size() : UINT32_MAX);
    if (bytes.size() <= kInlineValueBytes) {
      if (!bytes.empty()) std::memcpy(inline_, bytes.data(), bytes.size());
    } else {
      set_big_value(bytes);
    }
  }
  /// Oversized values are kept whole so dispatch() can report their real size.
  void set_big_value(std::span<const std::byte> bytes);

  /// What only slots and oversized values need; null for the common args, so an Arg costs one
  /// pointer check to destroy.
  struct Extra {
    std::string slot_name;
    std::vector<std::byte> big_value;
  };

  Kind kind_ = Kind::Value;
  Access access_ = Access::In;
  bool tagged_ = true;
  std::uint32_t value_size_ = 0;
  const detail::Allocation* alloc_ = nullptr;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
  alignas(8) std::byte inline_[kInlineValueBytes];  // not zeroed: only value_size_ bytes are read
  std::unique_ptr<Extra> extra_;
};

/// The kernel reads the view.
inline Arg in(const BufferView& view) { return Arg::make_buffer(view, Access::In, true); }
/// The kernel writes the view.
inline Arg out(const BufferView& view) { return Arg::make_buffer(view, Access::Out, true); }
/// The kernel reads and writes the view.
inline Arg inout(const BufferView& view) { return Arg::make_buffer(view, Access::InOut, true); }
/// Untagged: counts as inout of the whole view (the safe default).
inline Arg buffer(const BufferView& view) { return Arg::make_buffer(view, Access::InOut, false); }

// Buffer overloads avoid building a temporary view (and its reference count) per argument.
inline Arg in(const Buffer& b) { return Arg::make_buffer(b, Access::In, true); }
inline Arg out(const Buffer& b) { return Arg::make_buffer(b, Access::Out, true); }
inline Arg inout(const Buffer& b) { return Arg::make_buffer(b, Access::InOut, true); }
inline Arg buffer(const Buffer& b) { return Arg::make_buffer(b, Access::InOut, false); }

/// A value copied into the command buffer now (e.g. an element count or a params struct).
template <class T>
Arg value(const T& v) {
  static_assert(std::is_trivially_copyable_v<T>, "value() needs a trivially copyable type");
  return Arg::make_value(std::as_bytes(std::span<const T, 1>(&v, 1)));
}
/// Raw bytes of a value.
inline Arg value_bytes(std::span<const std::byte> bytes) { return Arg::make_value(bytes); }

/// A named value that a Recording can change before each replay (`recording.set(name, v)`);
/// commits of the encoder itself use `initial`. All slot args of one name must have one size.
template <class T>
Arg slot(std::string name, const T& initial) {
  static_assert(std::is_trivially_copyable_v<T>, "slot() needs a trivially copyable type");
  return Arg::make_slot(std::move(name), std::as_bytes(std::span<const T, 1>(&initial, 1)));
}

}  // namespace encore
