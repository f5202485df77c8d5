#include "core/command_list_pool.h"

#include "core/allocation.h"
#include "core/fence_state.h"

namespace encore::detail {

void BuilderScratch::clear() {
  tracker.reset();
  resource_index.clear();
  accesses.clear();
  hazards.clear();
}

std::unique_ptr<CommandList> CommandListPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!lists_.empty()) {
      std::unique_ptr<CommandList> list = std::move(lists_.back());
      lists_.pop_back();
      return list;
    }
  }
  return std::make_unique<CommandList>();
}

std::shared_ptr<CommandList> CommandListPool::share(std::unique_ptr<CommandList> list) {
  std::weak_ptr<CommandListPool> pool = weak_from_this();
  return std::shared_ptr<CommandList>(list.release(), [pool](CommandList* l) {
    if (auto p = pool.lock()) {
      p->recycle(l);
    } else {
      delete l;
    }
  });
}

void CommandListPool::recycle(CommandList* raw) noexcept {
  std::unique_ptr<CommandList> list(raw);
  list->clear();  // releases the retained buffers outside the lock
  std::lock_guard lock(mutex_);
  if (lists_.size() < kKeep) lists_.push_back(std::move(list));
}

std::unique_ptr<BuilderScratch> CommandListPool::acquire_scratch() {
  {
    std::lock_guard lock(mutex_);
    if (!scratch_.empty()) {
      std::unique_ptr<BuilderScratch> s = std::move(scratch_.back());
      scratch_.pop_back();
      return s;
    }
  }
  return std::make_unique<BuilderScratch>();
}

void CommandListPool::release_scratch(std::unique_ptr<BuilderScratch> scratch) noexcept {
  scratch->clear();
  std::lock_guard lock(mutex_);
  if (scratch_.size() < kKeep) scratch_.push_back(std::move(scratch));
}

}  // namespace encore::detail
