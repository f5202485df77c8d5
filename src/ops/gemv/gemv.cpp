// bf16 gemv: the variant tables, the families' registry entries, can_gemv and OpEncoder::gemv.
// The fused families' encode helper is gemv_fused.cpp.

#include "ops/gemv/gemv.h"

#include <array>
#include <cstdint>
#include <string>

#include "encore/error.h"
#include "encore/ops.h"

#include "ops/gemv/gemv_encode.h"
#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

namespace {

// First match wins. Chosen from encore-ops-bench --variants (H100, every variant of every
// decode-step matrix, weights streamed from memory): the split follows the row length, so that
// a warp's share of its rows is about one batch of loads (8 vectors a lane, 4 KiB a warp).
// Rows of at most 1024 columns go two to a warp (Qwen2.5-0.5B: 896x896 1.69 us against 2.09
// with r1s2, 9728x896 7.0 against 7.7 with r1s1); rows of 2048 one to a warp (2048x2048 3.8 us
// against 4.9 with r1s2, 16384x2048 93% of read bandwidth against 85% with r2s1); longer ones
// split over 2 (896x4864: 4.95 us against 5.9 with r1s8) or 4 warps (2048x8192: 13.3 us against
// 17.6 with r1s2). The lm_heads keep two rows a warp (half the blocks, each of which forms the
// norm prologue). Matrices of few rows split further, so the grid still covers the SMs.
constexpr std::array<GemvVariant, kGemvVariantCount> kVariants{{
    {"r2s1", 2, 1, "rows >= 65536 || (cols <= 1024 && rows >= 512)",
     [](std::uint32_t rows, std::uint32_t cols) {
       return rows >= 65536 || (cols <= 1024 && rows >= 512);
     }},
    {"r1s1", 1, 1, "cols <= 2048 && rows >= 512",
     [](std::uint32_t rows, std::uint32_t cols) { return cols <= 2048 && rows >= 512; }},
    {"r1s2", 1, 2, "cols <= 6144 && rows >= 256",
     [](std::uint32_t rows, std::uint32_t cols) { return cols <= 6144 && rows >= 256; }},
    {"r1s4", 1, 4, "cols <= 12288",
     [](std::uint32_t, std::uint32_t cols) { return cols <= 12288; }},
    {"r1s8", 1, 8, "otherwise", [](std::uint32_t, std::uint32_t) { return true; }},
}};

// The paired outputs: rows are pairs (a gate and an up row, or the two rows of a rope pair), so
// a warp group of R = 1 already streams two weight rows. Pairs per warp as for two-row groups
// above, split-K below.
constexpr std::array<GemvVariant, kGemvPairVariantCount> kPairVariants{{
    {"r1s1", 1, 1, "rows >= 2048 || cols < 512",
     [](std::uint32_t rows, std::uint32_t cols) { return rows >= 2048 || cols < 512; }},
    {"r1s2", 1, 2, "rows >= 512 || cols < 1024",
     [](std::uint32_t rows, std::uint32_t cols) { return rows >= 512 || cols < 1024; }},
    {"r1s4", 1, 4, "otherwise", [](std::uint32_t, std::uint32_t) { return true; }},
}};

constexpr std::array<GemvInput, kGemvInputCount> kInputs = {GemvInput::X, GemvInput::Norm,
                                                            GemvInput::AddNorm};
constexpr std::array<GemvOutput, kGemvOutputCount> kOutputs = {
    GemvOutput::Plain, GemvOutput::Bias, GemvOutput::SiluMul, GemvOutput::RopeKv,
    GemvOutput::RopeKvBias};

}  // namespace

std::span<const GemvVariant, kGemvVariantCount> gemv_variants() { return kVariants; }
std::span<const GemvVariant, kGemvPairVariantCount> gemv_pair_variants() { return kPairVariants; }

std::span<const GemvVariant> gemv_table(GemvOutput output) {
  if (gemv_paired(output)) return kPairVariants;
  return kVariants;
}

std::size_t gemv_variant_index(GemvOutput output, std::uint32_t rows, std::uint32_t cols) {
  const std::span<const GemvVariant> table = gemv_table(output);
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i].matches(rows, cols)) return i;
  }
  return table.size() - 1;
}

std::string gemv_kernel_name(GemvInput input, GemvOutput output, std::string_view variant) {
  std::string name = "gemv";
  if (input == GemvInput::Norm) name += "_norm";
  if (input == GemvInput::AddNorm) name += "_add_norm";
  if (gemv_has_bias(output)) name += "_bias";
  if (output == GemvOutput::SiluMul) name += "_silu";
  if (gemv_rope(output)) name += "_rope_kv";
  return name + "_bf16_" + std::string(variant);
}

std::vector<GemvArg> gemv_arg_order(GemvInput input, GemvOutput output) {
  std::vector<GemvArg> order = {GemvArg::W, GemvArg::X};
  if (input == GemvInput::AddNorm) order.push_back(GemvArg::B);
  if (input != GemvInput::X) order.push_back(GemvArg::NormW);
  if (input == GemvInput::AddNorm) order.push_back(GemvArg::Sum);
  if (gemv_has_bias(output)) order.push_back(GemvArg::Bias);
  order.push_back(GemvArg::Y);
  if (gemv_rope(output))
    order.insert(order.end(), {GemvArg::KCache, GemvArg::VCache, GemvArg::InvFreq});
  order.insert(order.end(), {GemvArg::Rows, GemvArg::Cols});
  if (input != GemvInput::X) order.push_back(GemvArg::Eps);
  if (gemv_rope(output)) order.insert(order.end(), {GemvArg::Pos, GemvArg::Rope});
  return order;
}

GemvArgLayout gemv_arg_layout(GemvInput input, GemvOutput output) {
  GemvArgLayout l;
  const std::vector<GemvArg> order = gemv_arg_order(input, output);
  for (std::size_t i = 0; i < order.size(); ++i) {
    switch (order[i]) {
      case GemvArg::W:
        break;  // always 0
      case GemvArg::X:
        l.x = i;
        break;
      case GemvArg::B:
        l.b = i;
        break;
      case GemvArg::NormW:
        l.norm_w = i;
        break;
      case GemvArg::Sum:
        l.sum = i;
        break;
      case GemvArg::Bias:
        l.bias = i;
        break;
      case GemvArg::Y:
        l.y = i;
        break;
      case GemvArg::KCache:
        l.k_cache = i;
        break;
      case GemvArg::VCache:
        l.v_cache = i;
        break;
      case GemvArg::InvFreq:
        l.inv_freq = i;
        break;
      case GemvArg::Rows:
        l.rows = i;
        break;
      case GemvArg::Cols:
        l.cols = i;
        break;
      case GemvArg::Eps:
        l.eps = i;
        break;
      case GemvArg::Pos:
        l.pos = i;
        break;
      case GemvArg::Rope:
        l.rope = i;
        break;
    }
  }
  l.count = order.size();
  return l;
}

namespace {

Param gemv_param(GemvArg arg, GemvInput input) {
  switch (arg) {
    case GemvArg::W:  // the weights, norm weight, bias and rope frequencies: before the wait
      return Param::in_before_wait("w");
    case GemvArg::X:
      return Param::in(input == GemvInput::AddNorm ? "a" : "x");
    case GemvArg::B:
      return Param::in("b");
    case GemvArg::NormW:
      return Param::in_before_wait("norm_w");
    case GemvArg::Sum:
      return Param::out("sum");
    case GemvArg::Bias:
      return Param::in_before_wait("bias");
    case GemvArg::Y:
      return Param::out("y");
    case GemvArg::KCache:  // one row (at a per-step position) is written, the rest kept
      return Param::inout("k_cache");
    case GemvArg::VCache:
      return Param::inout("v_cache");
    case GemvArg::InvFreq:
      return Param::in_before_wait("inv_freq");
    case GemvArg::Rows:
      return Param::value<std::uint32_t>("rows");
    case GemvArg::Cols:
      return Param::value<std::uint32_t>("cols");
    case GemvArg::Eps:
      return Param::value<float>("eps");
    case GemvArg::Pos:
      return Param::value<std::uint32_t>("pos");
    case GemvArg::Rope:
      return Param::value<RopeKvParams>("rope");
  }
  return Param::in("unknown");
}

}  // namespace

void register_gemv_kernels(KernelRegistry& registry) {
  for (const GemvInput input : kInputs) {
    for (const GemvOutput output : kOutputs) {
      std::vector<Param> params;
      for (const GemvArg arg : gemv_arg_order(input, output)) {
        params.push_back(gemv_param(arg, input));
      }
      for (const GemvVariant& v : gemv_table(output)) {
        registry.add({.name = gemv_kernel_name(input, output, v.name),
                      .params = params,
                      .op = OpKind::Gemv,
                      .cpu = gemv_cpu(input, output, v.rows_per_block()),
                      .cuda = gemv_cuda_kernel(input, output, v.rows_per_group, v.warps_per_group),
                      .programmatic_dependency = true});
      }
    }
  }
}

std::size_t gemv_kernel_slot(GemvInput input, GemvOutput output, std::size_t variant) {
  return (static_cast<std::size_t>(input) * kGemvOutputCount + static_cast<std::size_t>(output)) *
             kGemvVariantCount +
         variant;
}

void resolve_gemv_kernels(const Device& device, std::span<Kernel> out) {
  for (const GemvInput input : kInputs) {
    for (const GemvOutput output : kOutputs) {
      const std::span<const GemvVariant> table = gemv_table(output);
      for (std::size_t i = 0; i < table.size(); ++i) {
        out[gemv_kernel_slot(input, output, i)] =
            device.kernel(gemv_kernel_name(input, output, table[i].name));
      }
    }
  }
}

}  // namespace detail

Support can_gemv(std::uint32_t rows, std::uint32_t cols) {
  if (rows == 0) return detail::refuse("rows must be at least 1");
  if (cols == 0 || cols % 8 != 0) {
    return detail::refuse("cols must be a positive multiple of 8 (16-byte weight rows), got " +
                          std::to_string(cols));
  }
  return {};
}

namespace {

std::vector<KernelVariant> table_of(detail::GemvOutput output) {
  std::vector<KernelVariant> out;
  for (const detail::GemvVariant& v : detail::gemv_table(output)) {
    out.push_back({std::string(v.predicate), std::string(v.name),
                   detail::gemv_kernel_name(detail::GemvInput::X, output, v.name)});
  }
  return out;
}

}  // namespace

std::vector<KernelVariant> gemv_variant_table() { return table_of(detail::GemvOutput::Plain); }
std::vector<KernelVariant> gemv_silu_variant_table() {
  return table_of(detail::GemvOutput::SiluMul);
}

std::string gemv_kernel_for(std::uint32_t rows, std::uint32_t cols, bool bias) {
  const detail::GemvOutput output = bias ? detail::GemvOutput::Bias : detail::GemvOutput::Plain;
  const detail::GemvVariant& v =
      detail::gemv_table(output)[detail::gemv_variant_index(output, rows, cols)];
  return detail::gemv_kernel_name(detail::GemvInput::X, output, v.name);
}

void OpEncoder::gemv(Encoder& enc, const BufferView& w, const BufferView& x, const BufferView& y,
                     std::uint32_t rows, std::uint32_t cols, const std::optional<BufferView>& bias,
                     std::string_view label) const {
  detail::encode_gemv(k_->gemv, k_->limits.multiprocessors, enc, "gemv", w, x, y, rows, cols,
                      {.bias = bias}, label);
}

}  // namespace encore::ops
