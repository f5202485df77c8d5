// The checked encode of every gemv family (encode_gemv), can_gemv_fused and
// OpEncoder::gemv_fused.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "encore/ops.h"

#include "ops/gemv/gemv_encode.h"
#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

namespace {

// The rope epilogue's views: inv_freq, and two caches of whole rows of n_kv_heads * head_dim.
void check_rope_views(std::string_view op, std::string_view label, const GemvRopeKv& r,
                      std::vector<NamedView>& inputs, std::vector<NamedView>& outputs) {
  expect_u32_scalar(op, label, "pos", r.pos);
  expect_elements(op, label, "inv_freq", r.inv_freq, r.head_dim / 2, sizeof(float));
  const std::uint64_t row = std::uint64_t{r.n_kv_heads} * r.head_dim;
  if (!r.k_cache.buffer()) throw_invalid(op, label, "k_cache is a null buffer");
  const std::uint64_t elements = element_count(op, label, "k_cache", r.k_cache, 2);
  if (r.staged && elements != row) {
    throw_invalid(op, label,
                  "a staged k_cache is one row of n_kv_heads * head_dim = " + std::to_string(row) +
                      " bf16 values, got " + std::to_string(elements));
  }
  if (elements == 0 || elements % row != 0 || elements / row > UINT32_MAX) {
    throw_invalid(op, label,
                  "k_cache holds " + std::to_string(elements) +
                      " bf16 values, not a positive multiple (below 2^32 rows) of n_kv_heads * "
                      "head_dim = " +
                      std::to_string(row));
  }
  expect_elements(op, label, "v_cache", r.v_cache, elements, 2);
  inputs.push_back({"inv_freq", r.inv_freq});
  outputs.push_back({"k_cache", r.k_cache});
  outputs.push_back({"v_cache", r.v_cache});
}

// Every view of the fusion, checked for size and alignment; returns the inputs and outputs
// (for the overlap rule).
void check_views(std::string_view op, std::string_view label, const BufferView& w,
                 const BufferView& x, const BufferView& y, std::uint32_t rows, std::uint32_t cols,
                 const GemvFusion& f, std::vector<NamedView>& inputs,
                 std::vector<NamedView>& outputs) {
  const std::uint64_t weight_rows = std::uint64_t{rows} * (f.silu_mul ? 2 : 1);
  const std::uint64_t y_rows =
      f.rope_kv ? std::uint64_t{f.rope_kv->n_heads} * f.rope_kv->head_dim : rows;
  expect_elements(op, label, "w", w, weight_rows * cols, 2);
  expect_elements(op, label, "x", x, cols, sizeof(float));
  expect_elements(op, label, "y", y, y_rows, sizeof(float));
  expect_aligned(op, label, "w", w, 16);
  expect_aligned(op, label, "x", x, 16);
  inputs = {{"w", w}, {"x", x}};
  outputs = {{"y", y}};
  if (f.bias) {
    expect_elements(op, label, "bias", *f.bias, rows, sizeof(float));
    inputs.push_back({"bias", *f.bias});
  }
  if (f.rope_kv) check_rope_views(op, label, *f.rope_kv, inputs, outputs);
  if (!f.norm) return;
  const GemvNorm& n = *f.norm;
  if (!std::isfinite(n.eps) || n.eps < 0.0F) {
    throw_invalid(op, label, "eps must be finite and >= 0, got " + std::to_string(n.eps));
  }
  expect_elements(op, label, "norm weight", n.weight, cols, sizeof(float));
  expect_aligned(op, label, "norm weight", n.weight, 16);
  inputs.push_back({"norm weight", n.weight});
  if (n.add.has_value() != n.sum.has_value()) {
    throw_invalid(op, label, "the norm's add and sum come together (sum receives x + add)");
  }
  if (!n.add) return;
  expect_elements(op, label, "add", *n.add, cols, sizeof(float));
  expect_elements(op, label, "sum", *n.sum, cols, sizeof(float));
  expect_aligned(op, label, "add", *n.add, 16);
  expect_aligned(op, label, "sum", *n.sum, 16);
  inputs.push_back({"add", *n.add});
  outputs.push_back({"sum", *n.sum});
}

// The argument of one kernel parameter (the kernel's family fits `f`).
Arg bind(GemvArg arg, const BufferView& w, const BufferView& x, const BufferView& y,
         const GemvFusion& f, std::uint32_t out_rows, std::uint32_t cols) {
  switch (arg) {
    case GemvArg::W:
      return in(w);
    case GemvArg::X:
      return in(x);
    case GemvArg::B:
      return in(*f.norm->add);
    case GemvArg::NormW:
      return in(f.norm->weight);
    case GemvArg::Sum:
      return out(*f.norm->sum);
    case GemvArg::Bias:
      return in(*f.bias);
    case GemvArg::Y:
      return out(y);
    case GemvArg::KCache:
      return inout(f.rope_kv->k_cache);
    case GemvArg::VCache:
      return inout(f.rope_kv->v_cache);
    case GemvArg::InvFreq:
      return in(f.rope_kv->inv_freq);
    case GemvArg::Rows:
      return value(out_rows);
    case GemvArg::Cols:
      return value(cols);
    case GemvArg::Eps:
      return value(f.norm->eps);
    case GemvArg::Pos:
      return f.rope_kv->pos;
    case GemvArg::Rope: {
      const GemvRopeKv& r = *f.rope_kv;
      const std::uint64_t row = std::uint64_t{r.n_kv_heads} * r.head_dim;
      return value(RopeKvParams{.n_heads = r.n_heads,
                                .n_kv_heads = r.n_kv_heads,
                                .head_dim = r.head_dim,
                                .style = r.style == RopeStyle::NeoX ? 0U : 1U,
                                .max_rows = static_cast<std::uint32_t>(r.k_cache.size() / 2 / row),
                                .one_row = r.staged ? 1U : 0U});
    }
  }
  return value(0U);
}

}  // namespace

void encode_gemv(std::span<const Kernel> kernels, std::uint32_t multiprocessors, Encoder& enc,
                 std::string_view op, const BufferView& w, const BufferView& x, const BufferView& y,
                 std::uint32_t rows, std::uint32_t cols, const GemvFusion& f,
                 std::string_view label) {
  require(can_gemv_fused(rows, cols, f.norm.has_value(), f.silu_mul), op, label);
  if (f.silu_mul && f.bias) throw_invalid(op, label, "a bias does not combine with silu_mul");
  if (f.rope_kv) {
    const GemvRopeKv& r = *f.rope_kv;
    if (f.silu_mul) throw_invalid(op, label, "rope_kv does not combine with silu_mul");
    require(can_rope_kv_append(r.n_heads, r.n_kv_heads, r.head_dim), op, label);
    const std::uint64_t heads_rows = (std::uint64_t{r.n_heads} + 2ULL * r.n_kv_heads) * r.head_dim;
    if (rows != heads_rows) {
      throw_invalid(op, label,
                    "with rope_kv, rows must be (n_heads + 2 n_kv_heads) * head_dim = " +
                        std::to_string(heads_rows) + ", got " + std::to_string(rows));
    }
  }
  std::vector<NamedView> inputs;
  std::vector<NamedView> outputs;
  check_views(op, label, w, x, y, rows, cols, f, inputs, outputs);
  // Outputs are written while other blocks still read every input (and block 0 writes sum).
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    for (const NamedView& in : inputs) {
      if (views_overlap(outputs[o].view, in.view)) {
        const std::string written(outputs[o].name);
        const std::string read(in.name);
        throw_invalid(op, label,
                      written + " overlaps " + read + " (the kernel reads " + read +
                          " while it writes " + written + ")");
      }
    }
    for (std::size_t p = o + 1; p < outputs.size(); ++p) {
      if (views_overlap(outputs[o].view, outputs[p].view)) {
        throw_invalid(op, label,
                      std::string(outputs[o].name) + " overlaps " + std::string(outputs[p].name));
      }
    }
  }

  const GemvInput input = !f.norm       ? GemvInput::X
                          : f.norm->add ? GemvInput::AddNorm
                                        : GemvInput::Norm;
  GemvOutput output = f.silu_mul ? GemvOutput::SiluMul
                      : f.bias   ? GemvOutput::Bias
                                 : GemvOutput::Plain;
  if (f.rope_kv) output = f.bias ? GemvOutput::RopeKvBias : GemvOutput::RopeKv;
  // The kernels count output rows: rope pairs for the rope outputs.
  const std::uint32_t out_rows = f.rope_kv ? rows / 2 : rows;
  const std::size_t i = gemv_variant_index(output, out_rows, cols);
  const GemvVariant& variant = gemv_table(output)[i];
  auto blocks = static_cast<std::uint32_t>(ceil_div(out_rows, variant.rows_per_block()));
  if (input != GemvInput::X) {
    blocks = std::min(blocks, kGemvNormBlocksPerProcessor * std::max(multiprocessors, 1U));
  }
  // The norm families: x, then (where both fit) the norm weight, in shared memory.
  const std::uint32_t shared =
      input == GemvInput::X ? 0 : cols * sizeof(float) * (gemv_norm_w_preloaded(cols) ? 2 : 1);
  const Launch launch = Launch::groups(blocks, kGemvBlockThreads).shared(shared);
  std::vector<Arg> args;
  for (const GemvArg arg : gemv_arg_order(input, output))
    args.push_back(bind(arg, w, x, y, f, out_rows, cols));
  enc.dispatch(kernels[gemv_kernel_slot(input, output, i)], launch, args, {.label = label});
}

}  // namespace detail

Support can_gemv_fused(std::uint32_t rows, std::uint32_t cols, bool norm, bool silu_mul) {
  if (Support s = can_gemv(rows, cols); !s) return s;
  if (norm && cols > detail::kGemvNormMaxCols) {
    return detail::refuse("a norm prologue takes at most " +
                          std::to_string(detail::kGemvNormMaxCols) +
                          " cols (x in 48 KiB of "
                          "shared memory), got " +
                          std::to_string(cols));
  }
  if (silu_mul && rows > UINT32_MAX / 2) {
    return detail::refuse("silu_mul needs 2 * rows weight rows, too many for rows = " +
                          std::to_string(rows));
  }
  return {};
}

void OpEncoder::gemv_fused(Encoder& enc, const BufferView& w, const BufferView& x,
                           const BufferView& y, std::uint32_t rows, std::uint32_t cols,
                           const GemvFusion& fusion, std::string_view label) const {
  detail::encode_gemv(k_->gemv, k_->limits.multiprocessors, enc, "gemv_fused", w, x, y, rows, cols,
                      fusion, label);
}

}  // namespace encore::ops
