#include "support/norm_kernels.h"

#include <cstdint>

#include "encore/ops.h"

#include "support/test_support.h"

namespace encore::testing {

namespace {

void mul_other_dtype(const CpuKernelContext& ctx) {
  const auto n = ctx.value<std::uint32_t>(3);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  for (std::uint32_t t = 0; t < ctx.block().x; ++t) {
    if (first + t < n) {
      ctx.ptr<float>(2)[first + t] = ctx.ptr<float>(0)[first + t] * ctx.ptr<float>(1)[first + t];
    }
  }
}

}  // namespace

std::shared_ptr<KernelRegistry> make_norm_registry() {
  auto registry = make_portable_registry();
  ops::register_ops(*registry);
  registry->add({.name = "mul_bf16",
                 .params = {Param::in("a"), Param::in("b"), Param::out("c"),
                            Param::value<std::uint32_t>("n")},
                 .op = OpKind::ElemMul,
                 .cpu = mul_other_dtype});
  return registry;
}

}  // namespace encore::testing
