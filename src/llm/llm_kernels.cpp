// CPU implementations and registration of the llm kernels (llm_kernels.h).

#include "llm/llm_kernels.h"

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "llm/llm_kernels_cuda.h"

namespace encore::llm {

namespace {

void next_token(const CpuKernelContext& ctx) {
  const std::uint32_t argmax = ctx.ptr<const std::uint32_t>(0)[0];
  const auto history = ctx.span<std::uint32_t>(1);
  std::uint32_t* token = ctx.ptr<std::uint32_t>(2);
  const std::uint64_t next = std::uint64_t{ctx.value<std::uint32_t>(3)} + 1;
  const auto prompt_len = ctx.value<std::uint32_t>(4);
  if (next < prompt_len && next < history.size()) {
    token[0] = history[next];
  } else {
    token[0] = argmax;
    if (next < history.size()) history[next] = argmax;
  }
}

// The float4 groups the CUDA kernel's block reads (b*T + t, then every grid-size groups), in
// memory order: for each grid-stride step, the block's T adjacent groups.
void stream_read(const CpuKernelContext& ctx) {
  const float* x = ctx.ptr<const float>(0);
  float* partial = ctx.ptr<float>(1);
  const std::uint64_t n4 = ctx.value<std::uint32_t>(2);
  const std::uint64_t threads = ctx.block().x;
  const std::uint64_t stride = std::uint64_t{ctx.grid().x} * threads;
  float sum = 0.0F;
  for (std::uint64_t base = ctx.block_index().x * threads; base < n4; base += stride) {
    const std::uint64_t end = std::min(base + threads, n4);
    for (std::uint64_t i = base; i < end; ++i) {
      sum += x[4 * i] + x[4 * i + 1] + x[4 * i + 2] + x[4 * i + 3];
    }
  }
  partial[ctx.block_index().x] = sum;
}

}  // namespace

void register_llm_kernels(KernelRegistry& registry) {
  const LlmCudaKernels cuda = llm_cuda_kernels();
  registry.add(
      {.name = kNextTokenKernel,
       .params = {Param::in("argmax"), Param::inout("history"), Param::out("token"),
                  Param::value<std::uint32_t>("pos"), Param::value<std::uint32_t>("prompt_len")},
       .op = OpKind::Other,
       .cpu = next_token,
       .cuda = cuda.next_token,
       .programmatic_dependency = true});
  registry.add(
      {.name = kStreamReadKernel,
       .params = {Param::in("x"), Param::out("partial"), Param::value<std::uint32_t>("n4")},
       .op = OpKind::Reduce,
       .cpu = stream_read,
       .cuda = cuda.stream_read});
}

void ensure_llm_kernels(const Device& device) {
  static std::mutex mutex;
  const std::shared_ptr<KernelRegistry> registry =
      device.options().registry ? device.options().registry : KernelRegistry::builtin();
  const std::lock_guard lock(mutex);
  if (registry->find(kNextTokenKernel) == nullptr) register_llm_kernels(*registry);
}

}  // namespace encore::llm
