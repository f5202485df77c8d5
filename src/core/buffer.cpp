#include "encore/buffer.h"

#include <string>

#include "encore/error.h"

#include "core/allocation.h"

namespace encore {

namespace {

const detail::Allocation& checked(const std::shared_ptr<detail::Allocation>& alloc,
                                  const char* operation) {
  if (!alloc) {
    throw Error(ErrorCode::InvalidArgument, std::string(operation) + " on a null Buffer");
  }
  return *alloc;
}

// Overflow-safe check that [offset, offset + size) lies within [0, limit).
bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

[[noreturn]] void throw_out_of_range(const detail::Allocation& a, std::uint64_t offset,
                                     std::uint64_t size, std::string_view what) {
  throw Error(ErrorCode::OutOfRange, std::string(what) + " [" + std::to_string(offset) + ", " +
                                         std::to_string(offset) + "+" + std::to_string(size) +
                                         ") does not fit in " + a.describe() + " of " +
                                         std::to_string(a.size) + " bytes");
}

void transfer_in(const detail::Allocation& a, std::uint64_t offset,
                 std::span<const std::byte> bytes) {
  if (!fits(offset, bytes.size(), a.size)) throw_out_of_range(a, offset, bytes.size(), "upload");
  a.device->progress.wait_for_committed();
  a.device->memory->copy_in(a.address, offset, bytes);
  detail::StatsCounters::add(a.device->counters.bytes_uploaded, bytes.size());
}

void transfer_out(const detail::Allocation& a, std::uint64_t offset, std::span<std::byte> out) {
  if (!fits(offset, out.size(), a.size)) throw_out_of_range(a, offset, out.size(), "download");
  a.device->progress.wait_for_committed();
  a.device->memory->copy_out(a.address, offset, out);
  detail::StatsCounters::add(a.device->counters.bytes_downloaded, out.size());
}

}  // namespace

namespace detail {
void throw_download_size_mismatch(std::uint64_t bytes, std::size_t element_size) {
  throw Error(ErrorCode::InvalidArgument, "cannot download " + std::to_string(bytes) +
                                              " bytes as elements of " +
                                              std::to_string(element_size) + " bytes");
}
}  // namespace detail

std::uint64_t Buffer::size() const noexcept { return alloc_ ? alloc_->size : 0; }
std::uint64_t Buffer::id() const noexcept { return alloc_ ? alloc_->id : 0; }
std::string_view Buffer::label() const noexcept {
  return alloc_ ? std::string_view(alloc_->label) : std::string_view();
}
std::uint32_t Buffer::device_id() const noexcept { return alloc_ ? alloc_->device_id : 0; }

BufferView Buffer::view() const { return BufferView(*this); }

BufferView Buffer::view(std::uint64_t offset, std::uint64_t size) const {
  return BufferView(*this, offset, size);
}

void Buffer::upload(std::span<const std::byte> bytes, std::uint64_t offset) const {
  transfer_in(checked(alloc_, "upload"), offset, bytes);
}

void Buffer::download(std::span<std::byte> out, std::uint64_t offset) const {
  transfer_out(checked(alloc_, "download"), offset, out);
}

BufferView::BufferView(const Buffer& buffer) : buffer_(buffer), size_(buffer.size()) {}

BufferView::BufferView(Buffer buffer, std::uint64_t offset, std::uint64_t size)
    : buffer_(std::move(buffer)), offset_(offset), size_(size) {
  const detail::Allocation& a = checked(buffer_.allocation(), "view");
  if (!fits(offset, size, a.size)) throw_out_of_range(a, offset, size, "view");
}

BufferView BufferView::sub(std::uint64_t offset, std::uint64_t size) const {
  if (!fits(offset, size, size_)) {
    throw Error(ErrorCode::OutOfRange,
                "sub-view [" + std::to_string(offset) + ", " + std::to_string(offset) + "+" +
                    std::to_string(size) + ") does not fit in a view of " + std::to_string(size_) +
                    " bytes of " + checked(buffer_.allocation(), "sub-view").describe());
  }
  return BufferView(buffer_, offset_ + offset, size);
}

void BufferView::upload(std::span<const std::byte> bytes, std::uint64_t offset) const {
  const detail::Allocation& a = checked(buffer_.allocation(), "upload");
  if (!fits(offset, bytes.size(), size_)) {
    throw_out_of_range(a, offset_ + offset, bytes.size(), "upload");
  }
  transfer_in(a, offset_ + offset, bytes);
}

void BufferView::download(std::span<std::byte> out, std::uint64_t offset) const {
  const detail::Allocation& a = checked(buffer_.allocation(), "download");
  if (!fits(offset, out.size(), size_)) {
    throw_out_of_range(a, offset_ + offset, out.size(), "download");
  }
  transfer_out(a, offset_ + offset, out);
}

}  // namespace encore
