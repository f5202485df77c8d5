#pragma once

/// \file
/// Device memory: `Buffer` (a shared allocation) and `BufferView` (a byte window of one).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "encore/types.h"

namespace encore {

namespace detail {
struct Allocation;
}  // namespace detail

class BufferView;

/// A device allocation with shared ownership: copies share the memory, which is freed when the
/// last copy and every submission or recording that binds it are gone. Fresh allocations are
/// zero-filled. A default-constructed Buffer is null.
///
/// upload/download are ordered after every submission already committed on the owning device
/// (they wait for it to drain) and block until the copy is done. Thread safety: a Buffer may be
/// used from several threads; concurrent writes to the same bytes are the caller's race.
class Buffer {
 public:
  Buffer() = default;

  explicit operator bool() const noexcept { return alloc_ != nullptr; }
  /// Size in bytes.
  std::uint64_t size() const noexcept;
  /// Process-unique allocation id (appears in dumps and errors as buf#id).
  std::uint64_t id() const noexcept;
  /// The label given at allocation (may be empty).
  std::string_view label() const noexcept;
  /// Id of the device that owns the memory.
  std::uint32_t device_id() const noexcept;

  /// The whole buffer.
  BufferView view() const;
  /// Bytes [offset, offset + size). Throws Error(OutOfRange) naming the buffer if it does not fit.
  BufferView view(std::uint64_t offset, std::uint64_t size) const;
  /// Elements [first, first + count) of type T.
  template <class T>
  BufferView view_of(std::uint64_t first, std::uint64_t count) const;

  /// Copies `bytes` to [offset, offset + bytes.size()). Throws OutOfRange if it does not fit.
  void upload(std::span<const std::byte> bytes, std::uint64_t offset = 0) const;
  template <class T>
  void upload(std::span<const T> values, std::uint64_t offset = 0) const {
    upload(std::as_bytes(values), offset);
  }
  /// Copies [offset, offset + out.size()) to `out`. Throws OutOfRange if it does not fit.
  void download(std::span<std::byte> out, std::uint64_t offset = 0) const;
  /// The whole buffer as values of T (size must be a multiple of sizeof(T)).
  template <class T>
  std::vector<T> download() const;

  /// Number of owners (handles, views, submissions, recordings); for tests and diagnostics.
  long use_count() const noexcept { return alloc_.use_count(); }

  /// Internal: the allocation behind the handle.
  const std::shared_ptr<detail::Allocation>& allocation() const noexcept { return alloc_; }
  explicit Buffer(std::shared_ptr<detail::Allocation> alloc) noexcept : alloc_(std::move(alloc)) {}

 private:
  std::shared_ptr<detail::Allocation> alloc_;
};

/// A window [offset, offset + size) of a buffer; owns a share of the buffer. Views of one buffer
/// that do not share bytes never conflict in hazard tracking.
class BufferView {
 public:
  BufferView() = default;
  /// The whole buffer (implicit, so a Buffer can be passed wherever a view is expected).
  BufferView(const Buffer& buffer);  // NOLINT(google-explicit-constructor)
  /// Throws Error(OutOfRange) if [offset, offset + size) does not fit in the buffer.
  BufferView(Buffer buffer, std::uint64_t offset, std::uint64_t size);

  const Buffer& buffer() const noexcept { return buffer_; }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t size() const noexcept { return size_; }
  /// [offset, offset + size) in allocation bytes.
  ByteRange range() const noexcept { return {offset_, offset_ + size_}; }

  /// A sub-window; `offset` is relative to this view. Throws OutOfRange if it does not fit.
  BufferView sub(std::uint64_t offset, std::uint64_t size) const;

  void upload(std::span<const std::byte> bytes, std::uint64_t offset = 0) const;
  template <class T>
  void upload(std::span<const T> values, std::uint64_t offset = 0) const {
    upload(std::as_bytes(values), offset);
  }
  void download(std::span<std::byte> out, std::uint64_t offset = 0) const;
  template <class T>
  std::vector<T> download() const;

 private:
  Buffer buffer_;
  std::uint64_t offset_ = 0;
  std::uint64_t size_ = 0;
};

// ---- template definitions -------------------------------------------------------------------

template <class T>
BufferView Buffer::view_of(std::uint64_t first, std::uint64_t count) const {
  return view(first * sizeof(T), count * sizeof(T));
}

namespace detail {
[[noreturn]] void throw_download_size_mismatch(std::uint64_t bytes, std::size_t element_size);
}  // namespace detail

template <class T>
std::vector<T> BufferView::download() const {
  static_assert(std::is_trivially_copyable_v<T>, "download<T> needs a trivially copyable T");
  if (size_ % sizeof(T) != 0) detail::throw_download_size_mismatch(size_, sizeof(T));
  std::vector<T> out(size_ / sizeof(T));
  download(std::as_writable_bytes(std::span<T>(out)));
  return out;
}

template <class T>
std::vector<T> Buffer::download() const {
  return view().download<T>();
}

}  // namespace encore
