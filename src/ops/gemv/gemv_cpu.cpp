// CPU reference of the gemv variants: block b computes rows [b * rows_per_block, ...) with a
// double accumulator per row, so the reference is more accurate than any f32 kernel.

#include <cstdint>

#include "ops/bf16.h"
#include "ops/gemv/gemv.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

void gemv_rows(const CpuKernelContext& ctx, std::uint32_t rows_per_block, bool bias) {
  const std::size_t y_arg = bias ? 3 : 2;
  const auto rows = ctx.value<std::uint32_t>(y_arg + 1);
  const auto cols = ctx.value<std::uint32_t>(y_arg + 2);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * rows_per_block;
  const std::uint64_t last = first + rows_per_block < rows ? first + rows_per_block : rows;
  if (first >= last) return;
  check_arg_bytes(ctx, 0, last * cols * sizeof(std::uint16_t), "gemv_bf16");
  check_arg_bytes(ctx, 1, std::uint64_t{cols} * sizeof(float), "gemv_bf16");
  check_arg_bytes(ctx, y_arg, last * sizeof(float), "gemv_bf16");
  if (bias) check_arg_bytes(ctx, 2, last * sizeof(float), "gemv_bias_bf16");
  const std::uint16_t* w = ctx.ptr<const std::uint16_t>(0);
  const float* x = ctx.ptr<const float>(1);
  float* y = ctx.ptr<float>(y_arg);
  for (std::uint64_t r = first; r < last; ++r) {
    const std::uint16_t* row = w + r * cols;
    double acc = 0.0;
    for (std::uint32_t c = 0; c < cols; ++c) acc += double{bf16_to_float(row[c])} * x[c];
    if (bias) acc += ctx.ptr<const float>(2)[r];
    y[r] = static_cast<float>(acc);
  }
}

}  // namespace

CpuKernelFn gemv_cpu(std::uint32_t rows_per_block, bool bias) {
  return
      [rows_per_block, bias](const CpuKernelContext& ctx) { gemv_rows(ctx, rows_per_block, bias); };
}

}  // namespace encore::ops::detail
