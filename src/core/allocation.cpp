#include "core/allocation.h"

#include <atomic>

#include "encore/error.h"

namespace encore::detail {

namespace {
std::atomic<std::uint64_t> g_next_allocation_id{1};
}  // namespace

void QueueProgress::complete(std::uint64_t sequence) {
  {
    std::lock_guard lock(mutex_);
    if (sequence > completed_) completed_ = sequence;
  }
  cv_.notify_all();
}

void QueueProgress::wait_for_committed() {
  const std::uint64_t target = committed_.load(std::memory_order_acquire);
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return completed_ >= target; });
}

Allocation::Allocation(std::shared_ptr<DeviceShared> owner, std::uint64_t bytes, std::string name)
    : device(std::move(owner)), device_id(device->device_id), size(bytes), label(std::move(name)) {
  if (bytes == 0) {
    throw Error(ErrorCode::InvalidArgument,
                "cannot allocate a zero-byte buffer" +
                    (label.empty() ? std::string() : " '" + label + "'"));
  }
  address = device->memory->allocate(bytes);
  id = g_next_allocation_id.fetch_add(1, std::memory_order_relaxed);
  StatsCounters& c = device->counters;
  StatsCounters::add(c.allocations, 1);
  StatsCounters::add(c.bytes_allocated, bytes);
  StatsCounters::add(c.buffers_live, 1);
  StatsCounters::add(c.bytes_live, bytes);
}

Allocation::~Allocation() {
  device->memory->deallocate(address, size);
  StatsCounters::sub(device->counters.buffers_live, 1);
  StatsCounters::sub(device->counters.bytes_live, size);
}

std::string Allocation::describe() const {
  std::string out = "buf#" + std::to_string(id);
  if (!label.empty()) out += " '" + label + "'";
  return out;
}

}  // namespace encore::detail
