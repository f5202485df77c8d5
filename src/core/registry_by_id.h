#pragma once

// A process-wide table of shared objects by id that does not keep them alive: find() gives the
// object while something else owns it, and null once it is gone (the entry is then dropped).
// Collective groups are found this way by the kernels and completion threads that run their
// collectives, from the id the collective dispatch carries.

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace encore::detail {

template <class T>
class RegistryById {
 public:
  std::shared_ptr<T> find(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return nullptr;
    std::shared_ptr<T> object = it->second.lock();
    if (!object) objects_.erase(it);
    return object;
  }

  /// Makes `object` findable by `id`, dropping the entries of objects that are gone.
  void publish(std::uint64_t id, const std::shared_ptr<T>& object) {
    std::lock_guard lock(mutex_);
    std::erase_if(objects_, [](const auto& entry) { return entry.second.expired(); });
    objects_[id] = object;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<T>> objects_;
};

}  // namespace encore::detail
