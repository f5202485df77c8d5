// Communicator::join: ranks that form a group each on their own thread, meeting under the
// group's unique id in a process-wide table of pending groups. The last rank to join creates
// the group and removes the entry (so the id may name a new group); a rank that waits past the
// timeout fails the pending group for every rank waiting in it.
//
// On a CUDA device the id is NCCL's (Communicator::new_unique_id) and NCCL forms the group, from
// threads or processes: each rank gets a group object of its own, which holds its communicator.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "encore/collective.h"
#include "encore/error.h"

#include "backends/nccl_groups.h"
#include "runtime/collective_group.h"
#include "runtime/unique_id.h"

namespace encore {

namespace {

struct PendingGroup {
  std::uint32_t ranks = 0;
  std::vector<std::optional<std::uint32_t>> device_ids;  // by rank, once joined
  std::uint32_t joined = 0;
  std::shared_ptr<detail::CollectiveGroup> group;  // set when the last rank joins
  std::optional<std::string> failure;
};

struct JoinTable {
  std::mutex mutex;
  std::condition_variable cv;
  std::unordered_map<std::string, std::shared_ptr<PendingGroup>> pending;
};

// Never destroyed, like the group table.
JoinTable& join_table() {
  static auto* const t = new JoinTable();
  return *t;
}

[[noreturn]] void refuse_join(const CommunicatorConfig& c, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument, "Communicator::join of group '" + c.unique_id +
                                              "' as rank " + std::to_string(c.rank) + ": " + why);
}

std::atomic<std::uint64_t> next_cpu_id{1};

}  // namespace

std::string Communicator::new_unique_id(const Device& device) {
  if (device.backend() == BackendKind::Cuda) {
    return detail::encode_unique_id(detail::nccl_new_unique_id());
  }
  return "cpu-group-" + std::to_string(next_cpu_id.fetch_add(1));
}

Communicator Communicator::join(const Device& device, const CommunicatorConfig& c) {
  if (c.unique_id.empty()) refuse_join(c, "the unique id is empty");
  if (c.ranks == 0 || c.rank >= c.ranks) {
    refuse_join(c, "the rank must be in [0, " + std::to_string(c.ranks) + ")");
  }
  if (c.timeout.count() <= 0 || c.setup_timeout.count() <= 0) {
    refuse_join(c, "the timeout and the setup timeout must be positive");
  }
  if (device.backend() == BackendKind::Cuda) {
    std::vector<std::byte> id;
    try {
      id = detail::decode_unique_id(c.unique_id);
    } catch (const Error& e) {
      refuse_join(c, e.message() + " (make it with Communicator::new_unique_id on a CUDA device)");
    }
    auto group = std::make_shared<detail::CollectiveGroup>(c.ranks, c.timeout, c.label);
    group->set_nccl(detail::nccl_join_group({.id = group->id(),
                                             .ranks = c.ranks,
                                             .timeout = c.timeout,
                                             .setup_timeout = c.setup_timeout,
                                             .label = c.label},
                                            c.rank, device.options().cuda_ordinal, id));
    detail::CollectiveGroup::publish(group);
    Communicator out;
    out.group_ = std::move(group);
    out.rank_ = c.rank;
    out.device_ = device;
    out.token_ = out.device_.alloc(4, "collective order token");
    return out;
  }

  JoinTable& t = join_table();
  std::unique_lock lock(t.mutex);
  std::shared_ptr<PendingGroup>& slot = t.pending[c.unique_id];
  if (!slot) {
    slot = std::make_shared<PendingGroup>();
    slot->ranks = c.ranks;
    slot->device_ids.resize(c.ranks);
  }
  const std::shared_ptr<PendingGroup> g = slot;
  if (g->ranks != c.ranks) {
    refuse_join(c, "it says the group has " + std::to_string(c.ranks) +
                       " ranks, but the ranks that joined before say " + std::to_string(g->ranks));
  }
  if (g->device_ids[c.rank]) refuse_join(c, "the rank has joined already");
  for (std::uint32_t r = 0; r < g->ranks; ++r) {
    if (g->device_ids[r] == device.id()) {
      refuse_join(c, "device " + std::to_string(device.id()) + " has joined as rank " +
                         std::to_string(r) + " already");
    }
  }
  g->device_ids[c.rank] = device.id();
  if (++g->joined == g->ranks) {
    g->group = std::make_shared<detail::CollectiveGroup>(c.ranks, c.timeout, c.label);
    detail::CollectiveGroup::publish(g->group);
    t.pending.erase(c.unique_id);
    t.cv.notify_all();
  } else {
    t.cv.wait_for(lock, c.setup_timeout, [&] { return g->group || g->failure; });
    if (!g->group) {
      if (!g->failure) {
        std::string missing;
        for (std::uint32_t r = 0; r < g->ranks; ++r) {
          if (!g->device_ids[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
        }
        g->failure = "Communicator::join of group '" + c.unique_id + "': rank " +
                     std::to_string(c.rank) + " waited " + std::to_string(c.setup_timeout.count()) +
                     " ms for rank " + missing + " to join";
        auto it = t.pending.find(c.unique_id);
        if (it != t.pending.end() && it->second == g) t.pending.erase(it);
        t.cv.notify_all();
      }
      throw Error(ErrorCode::KernelFailed, *g->failure);
    }
  }
  lock.unlock();

  Communicator out;
  out.group_ = g->group;
  out.rank_ = c.rank;
  out.device_ = device;
  out.token_ = out.device_.alloc(4, "collective order token");
  return out;
}

}  // namespace encore
