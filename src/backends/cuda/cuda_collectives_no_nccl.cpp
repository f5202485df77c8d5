// The CUDA backend's collectives when encore is built without NCCL: no group of CUDA devices can
// be formed (backends/cuda/no_nccl.cpp refuses), so a collective never gets here; one that did
// is refused rather than run wrongly.

#include "encore/error.h"

#include "backends/cuda/cuda_collectives.h"
#include "core/collective_params.h"

namespace encore::detail {

namespace {

[[noreturn]] void refuse(const CommandList& list, std::uint32_t node) {
  throw Error(ErrorCode::BackendUnavailable,
              list.describe_node(node) +
                  ": collectives on CUDA devices need NCCL, and encore was "
                  "built without it");
}

}  // namespace

bool CudaCollectives::built() noexcept { return false; }

std::shared_ptr<InFlightWatch> CudaCollectives::prepare(const CommandList& list) {
  if (list.collective_count == 0) return nullptr;
  for (std::uint32_t i = 0; i < list.nodes.size(); ++i) {
    if (is_collective(list.nodes[i])) refuse(list, i);
  }
  return nullptr;
}

void CudaCollectives::issue(const CommandList& list, std::uint32_t node, cudaStream_t /*stream*/) {
  refuse(list, node);
}

Graph CudaCollectives::capture(const CommandList& list, std::uint32_t node) { refuse(list, node); }

}  // namespace encore::detail
