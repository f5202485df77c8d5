// CPU reference of kv_append_bf16: each "thread" converts one element of k and one of v.

#include <cstdint>

#include "ops/bf16.h"
#include "ops/kv_cache/kv_append.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

void kv_append_cpu(const CpuKernelContext& ctx) {
  const auto row_elems = ctx.value<std::uint32_t>(4);
  const auto pos = ctx.value<std::uint32_t>(5);
  const auto max_rows = ctx.value<std::uint32_t>(6);
  if (pos >= max_rows) return;
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * ctx.block().x;
  const std::uint64_t last = first + ctx.block().x < row_elems ? first + ctx.block().x : row_elems;
  if (first >= last) return;
  const std::uint64_t row = std::uint64_t{pos} * row_elems;
  check_arg_bytes(ctx, 0, last * sizeof(float), "kv_append_bf16");
  check_arg_bytes(ctx, 1, last * sizeof(float), "kv_append_bf16");
  check_arg_bytes(ctx, 2, (row + last) * sizeof(std::uint16_t), "kv_append_bf16");
  check_arg_bytes(ctx, 3, (row + last) * sizeof(std::uint16_t), "kv_append_bf16");
  const float* k = ctx.ptr<const float>(0);
  const float* v = ctx.ptr<const float>(1);
  std::uint16_t* k_cache = ctx.ptr<std::uint16_t>(2) + row;
  std::uint16_t* v_cache = ctx.ptr<std::uint16_t>(3) + row;
  for (std::uint64_t i = first; i < last; ++i) {
    k_cache[i] = float_to_bf16(k[i]);
    v_cache[i] = float_to_bf16(v[i]);
  }
}

}  // namespace encore::ops::detail
