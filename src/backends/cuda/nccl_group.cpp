#include "backends/cuda/nccl_group.h"

#include <cstdlib>
#include <cstring>
#include <thread>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "encore/error.h"

#include "core/registry_by_id.h"

namespace encore::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Never destroyed: completion threads may look groups up while static destructors run.
RegistryById<NcclGroup>& table() {
  static auto* const t = new RegistryById<NcclGroup>();
  return *t;
}

// NCCL connects a communicator to its peers at the first collective that needs them, unless told
// to connect when it is set up. Enqueueing would then wait for the peers to enqueue theirs, and
// one thread submitting for several ranks in turn would wait for itself. The environment wins
// when it sets the variable; NCCL reads it when the first communicator is set up.
void connect_at_init() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("NCCL_RUNTIME_CONNECT", "0", /*overwrite=*/0); });
}

std::string describe_call(std::uint32_t rank, const NcclGroup::Call& c) {
  std::string s = describe_collective(rank, c.params);
  if (!c.label.empty()) s += " ('" + c.label + "')";
  return s;
}

// xxHash of what NCCL is asked for: kind, op (all_reduce only) and count of each collective.
std::uint64_t hash_of(const std::vector<NcclGroup::Call>& calls) {
  std::vector<std::uint32_t> words;
  words.reserve(calls.size() * 3);
  for (const NcclGroup::Call& c : calls) {
    const CollectiveParams& p = c.params;
    words.push_back(static_cast<std::uint32_t>(p.kind));
    words.push_back(p.kind == CollectiveKind::AllReduce ? static_cast<std::uint32_t>(p.op) : 0U);
    words.push_back(p.count);
  }
  return XXH3_64bits(words.data(), words.size() * sizeof(std::uint32_t));
}

}  // namespace

NcclGroup::NcclGroup(NcclGroupInfo info) : info_(std::move(info)), members_(info_.ranks) {}

NcclGroup::~NcclGroup() {
  if (failure_) {  // the peers may be gone: nothing to finalise with them
    for (std::uint32_t r = 0; r < members_.size(); ++r) abort_rank(r);
    return;
  }
  // Finalising is collective: start it on every communicator before waiting for any, so a
  // group of this process does not wait for itself.
  const auto deadline = Clock::now() + info_.timeout;
  std::vector<std::pair<Member*, ncclResult_t>> finalising;
  for (auto& m : members_) {
    if (m && m->comm != nullptr && !m->aborted) {
      finalising.emplace_back(m.get(), ncclCommFinalize(m->comm));
    }
  }
  for (auto& [m, status] : finalising) {
    if (settle(m->comm, status, deadline) == ncclSuccess) {
      (void)ncclCommDestroy(m->comm);
    } else {
      (void)ncclCommAbort(m->comm);
    }
    m->comm = nullptr;
  }
}

std::shared_ptr<NcclGroup> NcclGroup::find(std::uint64_t id) { return table().find(id); }

void NcclGroup::publish(const std::shared_ptr<NcclGroup>& group) {
  table().publish(group->id(), group);
}

ncclResult_t NcclGroup::settle(ncclComm_t comm, ncclResult_t status,
                               Clock::time_point deadline) const {
  for (int polls = 0; status == ncclInProgress; ++polls) {
    if (Clock::now() >= deadline) return ncclInProgress;
    if (polls > 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
    ncclResult_t state = ncclInProgress;
    const ncclResult_t query = ncclCommGetAsyncError(comm, &state);
    status = query != ncclSuccess ? query : state;
  }
  return status;
}

std::string NcclGroup::nccl_message(ncclComm_t comm, ncclResult_t status) const {
  std::string s = std::string("NCCL reported ") + ncclGetErrorString(status);
  const char* last = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  if (last != nullptr && *last != '\0') s += std::string(" (") + last + ")";
  return s;
}

void NcclGroup::init(const ncclUniqueId& id, std::span<const std::uint32_t> ranks,
                     std::span<const int> ordinals, std::string_view what) {
  connect_at_init();
  int previous = 0;
  (void)cudaGetDevice(&previous);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every call returns at once; settle() bounds the wait
  if (!info_.label.empty()) config.commName = info_.label.c_str();
  std::optional<std::string> failed;
  ncclResult_t status = ncclGroupStart();
  for (std::size_t i = 0; i < ranks.size() && status == ncclSuccess; ++i) {
    auto m = std::make_unique<Member>();
    m->ordinal = ordinals[i];
    if (cudaSetDevice(m->ordinal) != cudaSuccess) {
      (void)cudaGetLastError();
      failed = "CUDA device " + std::to_string(m->ordinal) + " cannot be made current";
      break;
    }
    const ncclResult_t r = ncclCommInitRankConfig(&m->comm, static_cast<int>(info_.ranks), id,
                                                  static_cast<int>(ranks[i]), &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      failed = "rank " + std::to_string(ranks[i]) + ": " + nccl_message(nullptr, r);
    }
    members_[ranks[i]] = std::move(m);
    ++local_ranks_;
  }
  const ncclResult_t ended = ncclGroupEnd();
  (void)cudaSetDevice(previous);
  if (!failed && ended != ncclSuccess && ended != ncclInProgress) {
    failed = nccl_message(nullptr, ended);
  }
  const auto deadline = Clock::now() + info_.setup_timeout;
  for (std::uint32_t rank : ranks) {
    if (failed) break;
    Member& m = *members_[rank];
    const ncclResult_t s = settle(m.comm, ncclInProgress, deadline);
    if (s == ncclInProgress) {
      failed = "rank " + std::to_string(rank) + " (CUDA device " + std::to_string(m.ordinal) +
               ") waited " + std::to_string(info_.setup_timeout.count()) +
               " ms for NCCL to set up its communicator (are all " + std::to_string(info_.ranks) +
               " ranks joining?)";
    } else if (s != ncclSuccess) {
      failed = "rank " + std::to_string(rank) + " (CUDA device " + std::to_string(m.ordinal) +
               "): " + nccl_message(m.comm, s);
    }
  }
  if (failed) {
    for (auto& m : members_) {
      if (m && m->comm != nullptr) (void)ncclCommAbort(m->comm);
      m.reset();
    }
    local_ranks_ = 0;
    std::string where(what);
    if (!info_.label.empty()) where += " of group '" + info_.label + "'";
    throw Error(ErrorCode::KernelFailed, where + ": " + *failed);
  }
}

NcclGroup::Member& NcclGroup::member(std::uint32_t rank) {
  if (rank >= members_.size() || !members_[rank]) {
    throw Error(ErrorCode::Internal, "rank " + std::to_string(rank) +
                                         " is not a rank of this process in collective group " +
                                         std::to_string(info_.id));
  }
  return *members_[rank];
}

std::string NcclGroup::describe(const CollectiveCall& call) const {
  std::string s = "collective ";
  s += call.label.empty() ? std::string(to_string(call.params.kind))
                          : "'" + std::string(call.label) + "'";
  return s + " on rank " + std::to_string(call.params.rank) + " of " + std::to_string(info_.ranks);
}

std::optional<std::string> NcclGroup::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::string NcclGroup::fail(const std::string& why) {
  std::lock_guard lock(mutex_);
  if (!failure_) failure_ = group_failure(info_.label, info_.ranks, why);
  return *failure_;
}

void NcclGroup::enqueue(const CollectiveCall& call, cudaStream_t stream) {
  if (std::optional<std::string> f = failure()) {
    throw Error(ErrorCode::KernelFailed, describe(call) + ": " + *f);
  }
  const CollectiveParams& p = call.params;
  Member& m = member(p.rank);
  std::string why;
  {
    std::lock_guard lock(m.mutex);
    if (m.aborted) {
      throw Error(ErrorCode::KernelFailed, describe(call) + ": its communicator was aborted");
    }
    ncclResult_t status =
        p.kind == CollectiveKind::AllReduce
            ? ncclAllReduce(call.in, call.out, p.count, ncclFloat32,
                            p.op == ReduceOp::Max ? ncclMax : ncclSum, m.comm, stream)
            : ncclAllGather(call.in, call.out, p.count, ncclFloat32, m.comm, stream);
    status = settle(m.comm, status, Clock::now() + info_.timeout);
    if (status == ncclSuccess) return;
    why = status == ncclInProgress
              ? "NCCL did not enqueue it within " + std::to_string(info_.timeout.count()) + " ms"
              : nccl_message(m.comm, status);
  }
  const std::string failure = fail("rank " + std::to_string(p.rank) + ": " + why);
  abort_rank(p.rank);
  throw Error(ErrorCode::KernelFailed, describe(call) + ": " + failure);
}

std::optional<std::string> NcclGroup::async_error(std::uint32_t rank) {
  Member& m = member(rank);
  std::lock_guard lock(m.mutex);
  if (m.aborted || m.comm == nullptr) return std::nullopt;
  ncclResult_t state = ncclSuccess;
  const ncclResult_t query = ncclCommGetAsyncError(m.comm, &state);
  const ncclResult_t status = query != ncclSuccess ? query : state;
  if (status == ncclSuccess || status == ncclInProgress) return std::nullopt;
  return "rank " + std::to_string(rank) + " (CUDA device " + std::to_string(m.ordinal) +
         "): " + nccl_message(m.comm, status);
}

void NcclGroup::abort_rank(std::uint32_t rank) noexcept {
  if (rank >= members_.size() || !members_[rank]) return;
  Member& m = *members_[rank];
  std::lock_guard lock(m.mutex);
  if (m.aborted) return;
  m.aborted = true;
  if (m.comm != nullptr) (void)ncclCommAbort(m.comm);
  m.comm = nullptr;
}

std::string NcclGroup::first_difference(std::uint32_t a, const std::vector<Call>& calls_a,
                                        std::uint32_t b, const std::vector<Call>& calls_b) const {
  std::size_t i = 0;
  while (i < calls_a.size() && i < calls_b.size() &&
         same_collective(calls_a[i].params, calls_b[i].params))
    ++i;
  std::string s = "the ranks disagree at collective " + std::to_string(i + 1) +
                  " of the recording they submit: ";
  if (i < calls_a.size() && i < calls_b.size()) {
    return s + describe_call(a, calls_a[i]) + ", but " + describe_call(b, calls_b[i]);
  }
  const bool a_longer = i < calls_a.size();
  const std::uint32_t longer = a_longer ? a : b;
  const std::uint32_t shorter = a_longer ? b : a;
  const Call& extra = a_longer ? calls_a[i] : calls_b[i];
  return s + describe_call(longer, extra) + ", but rank " + std::to_string(shorter) +
         " records only " + std::to_string(i) + " collective" + (i == 1 ? "" : "s");
}

void NcclGroup::agree(std::uint32_t rank, std::vector<Call> calls) {
  const std::uint64_t hash = hash_of(calls);
  Member& m = member(rank);
  std::lock_guard lock(mutex_);
  if (failure_) throw Error(ErrorCode::KernelFailed, *failure_);
  const std::uint64_t index = m.posted++;
  Round& round = rounds_[index];
  if (round.calls.empty()) {
    round.calls.resize(info_.ranks);
    round.hashes.resize(info_.ranks);
  }
  for (std::uint32_t q = 0; q < info_.ranks; ++q) {
    if (!round.calls[q] || round.hashes[q] == hash) continue;
    failure_ =
        group_failure(info_.label, info_.ranks, first_difference(q, *round.calls[q], rank, calls));
    throw Error(ErrorCode::KernelFailed, *failure_);
  }
  round.calls[rank] = std::move(calls);
  round.hashes[rank] = hash;
  if (++round.posted == local_ranks_) rounds_.erase(index);
}

// ---- the runtime's interface (backends/nccl_groups.h) ----

bool nccl_built() noexcept { return true; }

std::shared_ptr<NcclGroup> nccl_create_group(const NcclGroupInfo& info,
                                             std::span<const int> ordinals) {
  ncclUniqueId id{};
  if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
    throw Error(
        ErrorCode::KernelFailed,
        std::string("Communicator::create: ncclGetUniqueId failed: ") + ncclGetErrorString(r));
  }
  std::vector<std::uint32_t> ranks(ordinals.size());
  for (std::uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
  auto group = std::make_shared<NcclGroup>(info);
  group->init(id, ranks, ordinals, "Communicator::create");
  NcclGroup::publish(group);
  return group;
}

std::shared_ptr<NcclGroup> nccl_join_group(const NcclGroupInfo& info, std::uint32_t rank,
                                           int ordinal, std::span<const std::byte> unique_id) {
  ncclUniqueId id{};
  if (unique_id.size() != sizeof(id.internal)) {
    throw Error(ErrorCode::InvalidArgument,
                "Communicator::join as rank " + std::to_string(rank) + ": a CUDA unique id holds " +
                    std::to_string(sizeof(id.internal)) + " bytes, but this one holds " +
                    std::to_string(unique_id.size()) +
                    " (make it with Communicator::new_unique_id on a CUDA device)");
  }
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  auto group = std::make_shared<NcclGroup>(info);
  const std::uint32_t ranks[] = {rank};
  const int ordinals[] = {ordinal};
  group->init(id, ranks, ordinals, "Communicator::join as rank " + std::to_string(rank));
  NcclGroup::publish(group);
  return group;
}

std::vector<std::byte> nccl_new_unique_id() {
  ncclUniqueId id{};
  if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
    throw Error(ErrorCode::KernelFailed,
                std::string("Communicator::new_unique_id: ncclGetUniqueId failed: ") +
                    ncclGetErrorString(r));
  }
  std::vector<std::byte> bytes(sizeof(id.internal));
  std::memcpy(bytes.data(), id.internal, bytes.size());
  return bytes;
}

void nccl_fail_group(NcclGroup& group, const std::string& why) { (void)group.fail(why); }

}  // namespace encore::detail
