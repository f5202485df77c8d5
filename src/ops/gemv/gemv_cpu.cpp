// CPU reference of every gemv family: block b computes output rows [b * rows_per_block, ...)
// with a double accumulator per weight row, so the reference is more accurate than any f32
// kernel. The norm prologue is rms_norm_mul / add_rms_norm_mul's arithmetic and the silu
// epilogue silu_mul's, so a fused gemv equals its unfused sequence bit for bit on the CPU.

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/bf16.h"
#include "ops/gemv/gemv.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

constexpr const char* kKernel = "gemv";

// x of the block: the x argument, or the norm prologue's result (block 0 writes sum).
const float* form_x(const CpuKernelContext& ctx, const GemvArgLayout& l, GemvInput input,
                    std::uint32_t cols, std::vector<float>& xs) {
  const std::uint64_t bytes = std::uint64_t{cols} * sizeof(float);
  check_arg_bytes(ctx, l.x, bytes, kKernel);
  const float* a = ctx.ptr<const float>(l.x);
  if (input == GemvInput::X) return a;
  check_arg_bytes(ctx, l.norm_w, bytes, kKernel);
  const float* w = ctx.ptr<const float>(l.norm_w);
  const float* b = nullptr;
  float* sum = nullptr;
  if (input == GemvInput::AddNorm) {
    check_arg_bytes(ctx, l.b, bytes, kKernel);
    check_arg_bytes(ctx, l.sum, bytes, kKernel);
    b = ctx.ptr<const float>(l.b);
    if (ctx.block_index().x == 0) sum = ctx.ptr<float>(l.sum);
  }
  const auto eps = ctx.value<float>(l.eps);
  xs.resize(cols);
  double squares = 0.0;
  for (std::uint32_t i = 0; i < cols; ++i) {
    float v = a[i];
    if (b != nullptr) v += b[i];
    if (sum != nullptr) sum[i] = v;
    xs[i] = v;
    squares += static_cast<double>(v) * v;
  }
  const auto scale = static_cast<float>(1.0 / std::sqrt(squares / cols + static_cast<double>(eps)));
  for (std::uint32_t i = 0; i < cols; ++i) {
    float v = xs[i];
    v *= scale;
    v *= w[i];
    xs[i] = v;
  }
  return xs.data();
}

double dot_row(const std::uint16_t* row, const float* x, std::uint32_t cols) {
  double acc = 0.0;
  for (std::uint32_t c = 0; c < cols; ++c) acc += double{bf16_to_float(row[c])} * x[c];
  return acc;
}

void gemv_rows(const CpuKernelContext& ctx, GemvInput input, GemvOutput output,
               std::uint32_t rows_per_block) {
  const GemvArgLayout l = gemv_arg_layout(input, output);
  const auto rows = ctx.value<std::uint32_t>(l.rows);
  const auto cols = ctx.value<std::uint32_t>(l.cols);
  const std::uint64_t first = std::uint64_t{ctx.block_index().x} * rows_per_block;
  const std::uint64_t last = first + rows_per_block < rows ? first + rows_per_block : rows;
  // The norm prologue runs in every block (block 0 writes sum even when it has no rows).
  std::vector<float> xs;
  const float* x = form_x(ctx, l, input, cols, xs);
  if (first >= last) return;
  const std::uint64_t weight_rows = output == GemvOutput::SiluMul ? 2ULL * rows : last;
  check_arg_bytes(ctx, 0, weight_rows * cols * sizeof(std::uint16_t), kKernel);
  check_arg_bytes(ctx, l.y, last * sizeof(float), kKernel);
  if (output == GemvOutput::Bias) check_arg_bytes(ctx, l.bias, last * sizeof(float), kKernel);
  const std::uint16_t* w = ctx.ptr<const std::uint16_t>(0);
  float* y = ctx.ptr<float>(l.y);
  for (std::uint64_t r = first; r < last; ++r) {
    double acc = dot_row(w + r * cols, x, cols);
    if (output == GemvOutput::SiluMul) {
      const auto g = static_cast<float>(acc);
      const auto u = static_cast<float>(dot_row(w + (rows + r) * cols, x, cols));
      y[r] = g / (1.0F + std::exp(-g)) * u;
      continue;
    }
    if (output == GemvOutput::Bias) acc += ctx.ptr<const float>(l.bias)[r];
    y[r] = static_cast<float>(acc);
  }
}

}  // namespace

CpuKernelFn gemv_cpu(GemvInput input, GemvOutput output, std::uint32_t rows_per_block) {
  return [input, output, rows_per_block](const CpuKernelContext& ctx) {
    gemv_rows(ctx, input, output, rows_per_block);
  };
}

}  // namespace encore::ops::detail
