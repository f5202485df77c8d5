// The checked encode of every gemv family (encode_gemv), can_gemv_fused and
// OpEncoder::gemv_fused.

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

struct NamedView {
  const char* name;
  BufferView view;
};

bool views_overlap(const BufferView& a, const BufferView& b) {
  return a.buffer().id() == b.buffer().id() && overlaps(a.range(), b.range());
}

// Every view of the fusion, checked for size and alignment; returns the inputs and outputs
// (for the overlap rule).
void check_views(std::string_view op, std::string_view label, const BufferView& w,
                 const BufferView& x, const BufferView& y, std::uint32_t rows, std::uint32_t cols,
                 const GemvFusion& f, std::vector<NamedView>& inputs,
                 std::vector<NamedView>& outputs) {
  const std::uint64_t weight_rows = std::uint64_t{rows} * (f.silu_mul ? 2 : 1);
  expect_elements(op, label, "w", w, weight_rows * cols, 2);
  expect_elements(op, label, "x", x, cols, sizeof(float));
  expect_elements(op, label, "y", y, rows, sizeof(float));
  expect_aligned(op, label, "w", w, 16);
  expect_aligned(op, label, "x", x, 16);
  inputs = {{"w", w}, {"x", x}};
  outputs = {{"y", y}};
  if (f.bias) {
    expect_elements(op, label, "bias", *f.bias, rows, sizeof(float));
    inputs.push_back({"bias", *f.bias});
  }
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

}  // namespace

void encode_gemv(std::span<const Kernel> kernels, Encoder& enc, std::string_view op,
                 const BufferView& w, const BufferView& x, const BufferView& y, std::uint32_t rows,
                 std::uint32_t cols, const GemvFusion& f, std::string_view label) {
  require(can_gemv_fused(rows, cols, f.norm.has_value(), f.silu_mul), op, label);
  if (f.silu_mul && f.bias) throw_invalid(op, label, "a bias does not combine with silu_mul");
  std::vector<NamedView> inputs;
  std::vector<NamedView> outputs;
  check_views(op, label, w, x, y, rows, cols, f, inputs, outputs);
  // Outputs are written while other blocks still read every input (and block 0 writes sum).
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    for (const NamedView& in : inputs) {
      if (views_overlap(outputs[o].view, in.view)) {
        throw_invalid(op, label,
                      std::string(outputs[o].name) + " overlaps " + in.name +
                          " (the kernel reads " + in.name + " while it writes " + outputs[o].name +
                          ")");
      }
    }
    for (std::size_t p = o + 1; p < outputs.size(); ++p) {
      if (views_overlap(outputs[o].view, outputs[p].view)) {
        throw_invalid(op, label, std::string(outputs[o].name) + " overlaps " + outputs[p].name);
      }
    }
  }

  const GemvInput input = !f.norm       ? GemvInput::X
                          : f.norm->add ? GemvInput::AddNorm
                                        : GemvInput::Norm;
  const GemvOutput output = f.silu_mul ? GemvOutput::SiluMul
                            : f.bias   ? GemvOutput::Bias
                                       : GemvOutput::Plain;
  const std::size_t i = gemv_variant_index(output, rows, cols);
  const GemvVariant& variant = gemv_table(output)[i];
  const auto blocks = static_cast<std::uint32_t>(ceil_div(rows, variant.rows_per_block()));
  const std::uint32_t shared = input == GemvInput::X ? 0 : cols * sizeof(float);
  const Launch launch = Launch::groups(blocks, kGemvBlockThreads).shared(shared);
  const GemvArgLayout l = gemv_arg_layout(input, output);
  std::vector<Arg> args(l.count, value(0U));
  args[0] = in(w);
  args[l.x] = in(x);
  if (f.norm) {
    args[l.norm_w] = in(f.norm->weight);
    args[l.eps] = value(f.norm->eps);
    if (f.norm->add) {
      args[l.b] = in(*f.norm->add);
      args[l.sum] = out(*f.norm->sum);
    }
  }
  if (f.bias) args[l.bias] = in(*f.bias);
  args[l.y] = out(y);
  args[l.rows] = value(rows);
  args[l.cols] = value(cols);
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
  detail::encode_gemv(k_->gemv, enc, "gemv_fused", w, x, y, rows, cols, fusion, label);
}

}  // namespace encore::ops
