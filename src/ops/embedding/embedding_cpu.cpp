// CPU reference of embedding_bf16: each "thread" of the block copies one element of the row.

#include <cstdint>

#include "ops/bf16.h"
#include "ops/embedding/embedding.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

void embedding_cpu(const CpuKernelContext& ctx) {
  const auto dim = ctx.value<std::uint32_t>(3);
  const auto vocab = ctx.value<std::uint32_t>(4);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  const std::uint64_t last = first + ctx.block().x < dim ? first + ctx.block().x : dim;
  if (first >= last) return;
  check_arg_bytes(ctx, 1, sizeof(std::uint32_t), "embedding_bf16");
  check_arg_bytes(ctx, 2, last * sizeof(float), "embedding_bf16");
  const std::uint32_t token = ctx.ptr<const std::uint32_t>(1)[0];
  float* out = ctx.ptr<float>(2);
  if (token >= vocab) {
    for (std::uint64_t i = first; i < last; ++i) out[i] = 0.0F;
    return;
  }
  const std::uint64_t row = std::uint64_t{token} * dim;
  check_arg_bytes(ctx, 0, (row + last) * sizeof(std::uint16_t), "embedding_bf16");
  const std::uint16_t* table = ctx.ptr<const std::uint16_t>(0) + row;
  for (std::uint64_t i = first; i < last; ++i) out[i] = bf16_to_float(table[i]);
}

}  // namespace encore::ops::detail
