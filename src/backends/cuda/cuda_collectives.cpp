#include "backends/cuda/cuda_collectives.h"

#include <map>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/nccl_group.h"
#include "core/collective_params.h"

namespace encore::detail {

namespace {

// A submission's collectives, one entry per group they use.
class CollectiveWatch final : public InFlightWatch {
 public:
  struct Use {
    std::shared_ptr<NcclGroup> group;
    std::uint32_t rank = 0;
    std::string first;  // the first collective of the group in the list, described
  };

  explicit CollectiveWatch(std::vector<Use> uses) : uses_(std::move(uses)) {}

  std::optional<Error> check(std::chrono::steady_clock::duration waited) override {
    for (const Use& u : uses_) {
      std::optional<std::string> failure = u.group->failure();
      if (!failure) {
        if (std::optional<std::string> e = u.group->async_error(u.rank)) {
          failure = u.group->fail(*e);
        }
      }
      if (!failure && waited > u.group->timeout()) {
        failure = u.group->fail("rank " + std::to_string(u.rank) + " waited " +
                                std::to_string(u.group->timeout().count()) +
                                " ms for its collectives to complete (a peer failed, or did not "
                                "run them)");
      }
      if (failure) {
        for (const Use& v : uses_) v.group->abort_rank(v.rank);
        return Error(ErrorCode::KernelFailed, u.first + ": " + *failure);
      }
    }
    return std::nullopt;
  }

  const std::vector<Use>& uses() const noexcept { return uses_; }

 private:
  std::vector<Use> uses_;
};

std::shared_ptr<NcclGroup> group_of(const CollectiveCall& call) {
  std::shared_ptr<NcclGroup> g = NcclGroup::find(call.params.group);
  if (!g) {
    throw Error(ErrorCode::KernelFailed,
                "collective '" + std::string(call.label) + "': collective group " +
                    std::to_string(call.params.group) +
                    " no longer exists (every Communicator of it was destroyed)");
  }
  return g;
}

}  // namespace

bool CudaCollectives::built() noexcept { return true; }

std::shared_ptr<InFlightWatch> CudaCollectives::prepare(const CommandList& list) {
  if (list.collective_count == 0) return nullptr;  // every submission without one: no scan
  // Per group (in order of first use): the watch's entry and the list's calls.
  std::vector<CollectiveWatch::Use> uses;
  std::vector<std::vector<NcclGroup::Call>> calls;
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    if (!is_collective(list.nodes[i])) continue;
    const CollectiveCall call = collective_call(list, i);
    std::size_t u = 0;
    while (u < uses.size() && uses[u].group->id() != call.params.group) ++u;
    if (u == uses.size()) {
      std::shared_ptr<NcclGroup> group = group_of(call);
      if (std::optional<std::string> f = group->failure()) {
        throw Error(ErrorCode::KernelFailed, group->describe(call) + ": " + *f);
      }
      uses.push_back({group, call.params.rank, group->describe(call)});
      calls.emplace_back();
    }
    calls[u].push_back({call.params, std::string(call.label)});
  }
  if (uses.empty()) return nullptr;
  if (agreed_.insert(list.id).second) {
    agreed_order_.push_back(list.id);
    if (agreed_order_.size() > kRemembered) {
      agreed_.erase(agreed_order_.front());
      agreed_order_.pop_front();
    }
    for (std::size_t u = 0; u < uses.size(); ++u) {
      uses[u].group->agree(uses[u].rank, std::move(calls[u]));
    }
  }
  return std::make_shared<CollectiveWatch>(std::move(uses));
}

void CudaCollectives::issue(const CommandList& list, std::uint32_t node, cudaStream_t stream) {
  const CollectiveCall call = collective_call(list, node);
  group_of(call)->enqueue(call, stream);
}

Graph CudaCollectives::capture(const CommandList& list, std::uint32_t node) {
  if (!capture_stream_) capture_stream_ = make_stream();
  cudaStream_t stream = capture_stream_.get();
  // Thread-local: other threads (other devices, the completion thread) may go on calling CUDA.
  ENCORE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    issue(list, node, stream);
  } catch (...) {
    cudaGraph_t partial = nullptr;
    (void)cudaStreamEndCapture(stream, &partial);
    if (partial != nullptr) (void)cudaGraphDestroy(partial);
    (void)cudaGetLastError();
    throw;
  }
  cudaGraph_t graph = nullptr;
  if (const cudaError_t status = cudaStreamEndCapture(stream, &graph); status != cudaSuccess) {
    throw cuda_error(status, "cudaStreamEndCapture of an NCCL call")
        .add_context(list.describe_node(node));
  }
  return Graph(graph);
}

}  // namespace encore::detail
