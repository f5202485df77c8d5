// Built when encore is configured without NCCL (ENCORE_ENABLE_NCCL=OFF, NCCL not found, or no
// CUDA): groups of CUDA devices cannot be formed, and saying why is all there is to do.

#include "encore/error.h"

#include "backends/nccl_groups.h"

namespace encore::detail {

namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw Error(ErrorCode::BackendUnavailable,
              what +
                  ": collectives on CUDA devices need NCCL, and encore was built without it "
                  "(configure with NCCL installed, e.g. -DENCORE_NCCL_ROOT=/path/to/nccl, and "
                  "ENCORE_ENABLE_NCCL=ON)");
}

}  // namespace

bool nccl_built() noexcept { return false; }

std::shared_ptr<NcclGroup> nccl_create_group(const NcclGroupInfo& /*info*/,
                                             std::span<const int> /*ordinals*/) {
  refuse("Communicator::create");
}

std::shared_ptr<NcclGroup> nccl_join_group(const NcclGroupInfo& /*info*/, std::uint32_t /*rank*/,
                                           int /*ordinal*/,
                                           std::span<const std::byte> /*unique_id*/) {
  refuse("Communicator::join");
}

std::vector<std::byte> nccl_new_unique_id() { refuse("Communicator::new_unique_id"); }

void nccl_fail_group(NcclGroup& /*group*/, const std::string& /*why*/) {}

}  // namespace encore::detail
