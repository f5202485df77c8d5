// Argmax: registry entries, can_argmax, argmax_scratch_bytes and OpEncoder::argmax (one dispatch
// for small vocabularies, two above kArgmaxSingleBlockMax).

#include "ops/argmax/argmax.h"

#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

std::uint32_t argmax_blocks(std::uint32_t n) {
  if (n <= kArgmaxSingleBlockMax) return 1;
  const std::uint64_t blocks = ceil_div(n, 1024);
  return static_cast<std::uint32_t>(blocks < 1024 ? blocks : 1024);
}

void register_argmax_kernels(KernelRegistry& registry) {
  const ArgmaxCudaKernels cuda = argmax_cuda_kernels();
  registry.add({.name = "argmax_f32",
                .params = {Param::in("x"), Param::out("token"), Param::value<std::uint32_t>("n")},
                .op = OpKind::Argmax,
                .cpu = argmax_single_cpu,
                .cuda = cuda.single,
                .programmatic_dependency = true});
  registry.add({.name = "argmax_partial_f32",
                .params = {Param::in("x"), Param::out("partial"), Param::value<std::uint32_t>("n")},
                .op = OpKind::Argmax,
                .cpu = argmax_partial_cpu,
                .cuda = cuda.partial,
                .programmatic_dependency = true});
  registry.add(
      {.name = "argmax_final_f32",
       .params = {Param::in("partial"), Param::out("token"), Param::value<std::uint32_t>("count")},
       .op = OpKind::Argmax,
       .cpu = argmax_final_cpu,
       .cuda = cuda.final,
       .programmatic_dependency = true});
}

}  // namespace detail

Support can_argmax(std::uint32_t n) {
  if (n == 0) return detail::refuse("n (the number of logits) must be at least 1");
  return {};
}

std::uint64_t argmax_scratch_bytes(std::uint32_t n) {
  return std::uint64_t{detail::argmax_blocks(n)} * 8;
}

void OpEncoder::argmax(Encoder& enc, const BufferView& x, const BufferView& token,
                       const BufferView& scratch, std::uint32_t n, std::string_view label) const {
  constexpr std::string_view op = "argmax";
  detail::require(can_argmax(n), op, label);
  detail::expect_elements(op, label, "x", x, n, sizeof(float));
  detail::expect_elements(op, label, "token", token, 1, sizeof(std::uint32_t));
  if (!scratch.buffer()) detail::throw_invalid(op, label, "scratch is a null buffer");
  const std::uint64_t need = argmax_scratch_bytes(n);
  if (scratch.size() < need) {
    detail::throw_invalid(op, label,
                          "scratch holds " + std::to_string(scratch.size()) +
                              " bytes, argmax_scratch_bytes(" + std::to_string(n) + ") is " +
                              std::to_string(need));
  }
  const std::uint32_t blocks = detail::argmax_blocks(n);
  if (blocks == 1) {
    enc.dispatch(k_->argmax, Launch::groups(1, detail::kArgmaxThreads),
                 {in(x), out(token), value(n)}, {.label = label});
    return;
  }
  const BufferView partial = scratch.sub(0, need);
  enc.dispatch(k_->argmax_partial, Launch::groups(blocks, detail::kArgmaxThreads),
               {in(x), out(partial), value(n)}, {.label = label});
  // The second pass reads what the first wrote: under barriers ordering, dispatches between two
  // barriers may run concurrently, so the order must be a barrier (other orderings infer it).
  if (enc.ordering() == Ordering::Barriers) enc.barrier();
  enc.dispatch(k_->argmax_final, Launch::groups(1, detail::kArgmaxThreads),
               {in(partial), out(token), value(blocks)}, {.label = label});
}

}  // namespace encore::ops
