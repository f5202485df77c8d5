#include "backends/cuda/graph_cache.h"

#include <algorithm>

namespace encore::detail {

GraphEntry* GraphCache::find(std::uint64_t key, std::span<const std::uint64_t> structure) {
  auto [first, last] = by_key_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    GraphEntry& e = **it->second;
    if (std::equal(e.structure.begin(), e.structure.end(), structure.begin(), structure.end())) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return &e;
    }
  }
  return nullptr;
}

GraphEntry* GraphCache::find_list(std::uint64_t list_id) {
  auto it = by_list_.find(list_id);
  if (it == by_list_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->get();
}

std::pair<GraphEntry*, std::size_t> GraphCache::insert(std::unique_ptr<GraphEntry> entry) {
  std::size_t evicted = 0;
  while (!lru_.empty() && lru_.size() >= capacity_) {
    Lru::iterator victim = std::prev(lru_.end());
    auto [first, last] = by_key_.equal_range((*victim)->key);
    for (auto it = first; it != last; ++it) {
      if (it->second == victim) {
        by_key_.erase(it);
        break;
      }
    }
    by_list_.erase((*victim)->last_list);
    lru_.erase(victim);
    ++evicted;
  }
  lru_.push_front(std::move(entry));
  by_key_.emplace(lru_.front()->key, lru_.begin());
  return {lru_.front().get(), evicted};
}

void GraphCache::note_list(GraphEntry& entry, std::uint64_t list_id) {
  if (entry.last_list == list_id) return;
  auto old = by_list_.find(entry.last_list);
  if (old != by_list_.end() && old->second->get() == &entry) by_list_.erase(old);
  entry.last_list = list_id;
  auto [first, last] = by_key_.equal_range(entry.key);
  for (auto it = first; it != last; ++it) {
    if (it->second->get() == &entry) {
      by_list_[list_id] = it->second;
      return;
    }
  }
}

}  // namespace encore::detail
