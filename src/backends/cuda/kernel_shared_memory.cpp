#include "backends/cuda/kernel_shared_memory.h"

#include <algorithm>
#include <cuda_runtime_api.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "backends/cuda/cuda_check.h"

namespace encore::detail {

namespace {

// Shared memory (static and dynamic) a block may take without opting in.
constexpr std::uint32_t kDefaultBlockLimit = 48 * 1024;

}  // namespace

std::size_t KernelSharedMemory::LaunchKeyHash::operator()(const LaunchKey& k) const noexcept {
  static_assert(sizeof(LaunchKey) == sizeof(void*) + 2 * sizeof(std::uint32_t),
                "LaunchKey is hashed as its bytes: no padding");
  return static_cast<std::size_t>(XXH3_64bits(&k, sizeof k));
}

KernelSharedMemory::KernelSharedMemory(std::uint32_t shared_per_processor,
                                       std::uint32_t reserved_per_block)
    : shared_per_processor_(std::max(shared_per_processor, 1U)),
      reserved_per_block_(reserved_per_block) {}

void KernelSharedMemory::set_carveout(const void* kernel, KernelState& state, int percent) {
  if (state.carveout == percent) return;
  ENCORE_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, percent));
  state.carveout = percent;
}

std::uint32_t KernelSharedMemory::demand_of(const LaunchKey& key, KernelState& state) {
  // The occupancy calculator honours a carveout set on the kernel: back to the driver's choice
  // first, so that the answer is the kernel's full occupancy, not what the split allows.
  set_carveout(key.kernel, state, cudaSharedmemCarveoutDefault);
  int blocks = 0;
  ENCORE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &blocks, key.kernel, static_cast<int>(key.threads), key.shared));
  const std::uint64_t per_block =
      std::uint64_t{key.shared} + state.static_bytes + reserved_per_block_;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(
      per_block * static_cast<std::uint64_t>(std::max(blocks, 1)), shared_per_processor_));
}

void KernelSharedMemory::prepare(const CommandList& list) {
  if (list.id != 0 && list.id == last_list_) return;
  int needed = carveout_;
  bool new_kernels = false;
  for (const Node& n : list.nodes) {
    if (n.kind != NodeKind::Dispatch || n.kernel == nullptr || n.kernel->cuda == nullptr) continue;
    const Dim3 block = n.launch.block();
    const LaunchKey key{n.kernel->cuda, block.x * block.y * block.z, n.launch.shared_bytes()};
    if (counted_.contains(key)) continue;
    KernelState& state = kernels_[key.kernel];
    if (!state.known) {
      cudaFuncAttributes attributes{};
      ENCORE_CUDA_CHECK(cudaFuncGetAttributes(&attributes, key.kernel));
      state.static_bytes = static_cast<std::uint32_t>(attributes.sharedSizeBytes);
      state.known = true;
    }
    if (std::uint64_t{key.shared} + state.static_bytes > kDefaultBlockLimit &&
        key.shared > state.opted_in) {
      ENCORE_CUDA_CHECK(cudaFuncSetAttribute(
          key.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(key.shared)));
      state.opted_in = key.shared;
    }
    const std::uint64_t demand = demand_of(key, state);
    needed = std::max(needed, static_cast<int>((demand * 100 + shared_per_processor_ - 1) /
                                               shared_per_processor_));
    counted_.insert(key);
    new_kernels = true;
  }
  if (new_kernels) {
    carveout_ = needed;
    // Every kernel launched so far takes the (possibly larger) split, not only this list's:
    // lists replay interleaved.
    for (auto& [kernel, state] : kernels_) set_carveout(kernel, state, carveout_);
  }
  last_list_ = list.id;
}

}  // namespace encore::detail
