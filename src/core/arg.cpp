#include "encore/arg.h"

namespace encore {

Arg::Arg(const Arg& other)
    : kind_(other.kind_),
      access_(other.access_),
      tagged_(other.tagged_),
      alloc_(other.alloc_),
      offset_(other.offset_),
      size_(other.size_) {
  if (other.extra_) extra_ = std::make_unique<Extra>(*other.extra_);
  value_size_ = other.value_size_;
  if (value_size_ <= kInlineValueBytes) std::memcpy(inline_, other.inline_, value_size_);
}

Arg& Arg::operator=(const Arg& other) {
  if (this != &other) *this = Arg(other);
  return *this;
}

void Arg::set_big_value(std::span<const std::byte> bytes) {
  if (!extra_) extra_ = std::make_unique<Extra>();
  extra_->big_value.assign(bytes.begin(), bytes.end());
}

}  // namespace encore
