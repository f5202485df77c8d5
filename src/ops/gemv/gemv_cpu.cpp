// CPU reference of every gemv family: block b computes the output rows of logical blocks b,
// b + grid, ... (logical block k: rows [k * rows_per_block, ...)) with a double accumulator per
// weight row, so the reference is more accurate than any f32 kernel. The norm prologue is
// rms_norm_mul / add_rms_norm_mul's arithmetic and the silu epilogue silu_mul's, so a fused gemv
// equals its unfused sequence bit for bit on the CPU.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/bf16.h"
#include "ops/gemv/gemv.h"
#include "ops/op_common.h"
#include "ops/rope/rope.h"

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

// The rope epilogue of pair `pair` (weight-row totals in double, the bias added in double as
// gemv adds it): what gemv followed by rope_kv_append leaves, bit for bit.
void store_rope(const CpuKernelContext& ctx, const GemvArgLayout& l, const RopePair& pr,
                double a_total, double b_total) {
  const auto pos = ctx.value<std::uint32_t>(l.pos);
  const auto p = ctx.value<RopeKvParams>(l.rope);
  if (l.bias != kNoArg) {
    a_total += ctx.ptr<const float>(l.bias)[pr.a];
    b_total += ctx.ptr<const float>(l.bias)[pr.b];
  }
  const auto a = static_cast<float>(a_total);
  const auto b = static_cast<float>(b_total);
  const std::uint32_t q_rows = p.n_heads * p.head_dim;
  const std::uint32_t kv_rows = p.n_kv_heads * p.head_dim;
  const float* inv_freq = ctx.ptr<const float>(l.inv_freq);
  if (pr.a < q_rows) {
    const Turned t = rope_turn_cpu(a, b, pos, inv_freq[pr.j]);
    ctx.ptr<float>(l.y)[pr.a] = t.a;
    ctx.ptr<float>(l.y)[pr.b] = t.b;
    return;
  }
  const std::uint32_t row = rope_kv_row(p, pos);
  if (row == kNoCacheRow) return;
  const std::uint64_t at = std::uint64_t{row} * kv_rows;
  check_arg_bytes(ctx, l.k_cache, (at + kv_rows) * 2, kKernel);
  check_arg_bytes(ctx, l.v_cache, (at + kv_rows) * 2, kKernel);
  if (pr.a < q_rows + kv_rows) {
    const Turned t = rope_turn_cpu(a, b, pos, inv_freq[pr.j]);
    ctx.ptr<std::uint16_t>(l.k_cache)[at + pr.a - q_rows] = float_to_bf16(t.a);
    ctx.ptr<std::uint16_t>(l.k_cache)[at + pr.b - q_rows] = float_to_bf16(t.b);
  } else {
    ctx.ptr<std::uint16_t>(l.v_cache)[at + pr.a - q_rows - kv_rows] = float_to_bf16(a);
    ctx.ptr<std::uint16_t>(l.v_cache)[at + pr.b - q_rows - kv_rows] = float_to_bf16(b);
  }
}

// Output rows [first, last) from x.
void gemv_block_rows(const CpuKernelContext& ctx, GemvOutput output, const GemvArgLayout& l,
                     const float* x, std::uint32_t rows, std::uint32_t cols, std::uint64_t first,
                     std::uint64_t last) {
  const std::uint16_t* w = ctx.ptr<const std::uint16_t>(0);
  if (gemv_rope(output)) {
    const auto p = ctx.value<RopeKvParams>(l.rope);
    const std::uint64_t weight_rows = 2ULL * rows;
    const std::uint64_t q_rows = std::uint64_t{p.n_heads} * p.head_dim;
    check_arg_bytes(ctx, 0, weight_rows * cols * sizeof(std::uint16_t), kKernel);
    check_arg_bytes(ctx, l.y, q_rows * sizeof(float), kKernel);
    check_arg_bytes(ctx, l.inv_freq, std::uint64_t{p.head_dim / 2} * sizeof(float), kKernel);
    if (l.bias != kNoArg) check_arg_bytes(ctx, l.bias, weight_rows * sizeof(float), kKernel);
    for (std::uint64_t r = first; r < last; ++r) {
      const RopePair pr = rope_pair(static_cast<std::uint32_t>(r), p.head_dim, p.style);
      store_rope(ctx, l, pr, dot_row(w + pr.a * std::uint64_t{cols}, x, cols),
                 dot_row(w + pr.b * std::uint64_t{cols}, x, cols));
    }
    return;
  }
  const std::uint64_t weight_rows = output == GemvOutput::SiluMul ? 2ULL * rows : last;
  check_arg_bytes(ctx, 0, weight_rows * cols * sizeof(std::uint16_t), kKernel);
  check_arg_bytes(ctx, l.y, last * sizeof(float), kKernel);
  if (output == GemvOutput::Bias) check_arg_bytes(ctx, l.bias, last * sizeof(float), kKernel);
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

// Block b of the launch computes the rows of logical blocks b, b + grid, b + 2 grid, ... (the
// launch may hold fewer blocks than the rows need, see gemv.h).
void gemv_rows(const CpuKernelContext& ctx, GemvInput input, GemvOutput output,
               const GemvArgLayout& l, std::uint32_t rows_per_block) {
  const auto rows = ctx.value<std::uint32_t>(l.rows);
  const auto cols = ctx.value<std::uint32_t>(l.cols);
  // The norm prologue runs in every block (block 0 writes sum even when it has no rows).
  std::vector<float> xs;
  const float* x = form_x(ctx, l, input, cols, xs);
  const std::uint64_t logical = (std::uint64_t{rows} + rows_per_block - 1) / rows_per_block;
  for (std::uint64_t b = ctx.block_index().x; b < logical; b += ctx.grid().x) {
    const std::uint64_t first = b * rows_per_block;
    const std::uint64_t last = std::min<std::uint64_t>(first + rows_per_block, rows);
    gemv_block_rows(ctx, output, l, x, rows, cols, first, last);
  }
}

}  // namespace

CpuKernelFn gemv_cpu(GemvInput input, GemvOutput output, std::uint32_t rows_per_block) {
  return [input, output, layout = gemv_arg_layout(input, output),
          rows_per_block](const CpuKernelContext& ctx) {
    gemv_rows(ctx, input, output, layout, rows_per_block);
  };
}

}  // namespace encore::ops::detail
