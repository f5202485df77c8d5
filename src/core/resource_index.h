#pragma once

// Maps allocation ids to dense per-command-buffer indices. Open addressing with linear probing:
// one multiply and (almost always) one probe per lookup, no allocation per insert. Ids are never
// zero, so zero marks an empty slot.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace encore::detail {

class ResourceIndex {
 public:
  ResourceIndex() { rehash(64); }

  /// Forgets every id, keeping the capacity.
  void clear() {
    std::fill(keys_.begin(), keys_.end(), 0);
    size_ = 0;
  }

  /// The index stored for `id`, or `next` after storing it; `.second` is true when inserted.
  std::pair<std::uint32_t, bool> find_or_insert(std::uint64_t id, std::uint32_t next) {
    if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
    std::size_t i = home(id);
    while (true) {
      if (keys_[i] == id) return {values_[i], false};
      if (keys_[i] == 0) {
        keys_[i] = id;
        values_[i] = next;
        ++size_;
        return {next, true};
      }
      i = (i + 1) & mask_;
    }
  }

 private:
  std::size_t home(std::uint64_t id) const {
    return static_cast<std::size_t>((id * 0x9E3779B97F4A7C15ULL) >> shift_);
  }

  void rehash(std::size_t capacity) {
    std::vector<std::uint64_t> old_keys = std::move(keys_);
    std::vector<std::uint32_t> old_values = std::move(values_);
    keys_.assign(capacity, 0);
    values_.assign(capacity, 0);
    mask_ = capacity - 1;
    shift_ = 64;
    for (std::size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (std::size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] != 0) find_or_insert(old_keys[i], old_values[i]);
    }
  }

  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> values_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace encore::detail
