// bf16 gemv: the variant table, registry entries, can_gemv and OpEncoder::gemv.

#include "ops/gemv/gemv.h"

#include <array>
#include <cstdint>
#include <string>

#include "encore/error.h"
#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

namespace {

// First match wins. Aim: about 4096 warps in flight (31 per SM of an H100/H200) with at least
// one 16-byte vector per lane. Large matrices take two rows per warp (x read once for both);
// smaller ones split each row over 2, 4 or 8 warps of a block (split-K) so the grid still
// covers every SM; the split stops where a warp's share of a row would drop below 512 bytes.
constexpr std::array<GemvVariant, kGemvVariantCount> kVariants{{
    {"r2s1", "gemv_bf16_r2s1", "gemv_bias_bf16_r2s1", 2, 1, "rows >= 8192",
     [](std::uint32_t rows, std::uint32_t) { return rows >= 8192; }},
    {"r1s1", "gemv_bf16_r1s1", "gemv_bias_bf16_r1s1", 1, 1, "rows >= 4096 || cols < 512",
     [](std::uint32_t rows, std::uint32_t cols) { return rows >= 4096 || cols < 512; }},
    {"r1s2", "gemv_bf16_r1s2", "gemv_bias_bf16_r1s2", 1, 2, "rows >= 2048 || cols < 1024",
     [](std::uint32_t rows, std::uint32_t cols) { return rows >= 2048 || cols < 1024; }},
    {"r1s4", "gemv_bf16_r1s4", "gemv_bias_bf16_r1s4", 1, 4, "rows >= 1024 || cols < 2048",
     [](std::uint32_t rows, std::uint32_t cols) { return rows >= 1024 || cols < 2048; }},
    {"r1s8", "gemv_bf16_r1s8", "gemv_bias_bf16_r1s8", 1, 8, "otherwise",
     [](std::uint32_t, std::uint32_t) { return true; }},
}};

}  // namespace

std::span<const GemvVariant, kGemvVariantCount> gemv_variants() { return kVariants; }

std::size_t gemv_variant_index(std::uint32_t rows, std::uint32_t cols) {
  for (std::size_t i = 0; i < kVariants.size(); ++i) {
    if (kVariants[i].matches(rows, cols)) return i;
  }
  return kVariants.size() - 1;
}

void register_gemv_kernels(KernelRegistry& registry) {
  const Param rows = Param::value<std::uint32_t>("rows");
  const Param cols = Param::value<std::uint32_t>("cols");
  for (const GemvVariant& v : kVariants) {
    registry.add({.name = std::string(v.kernel),
                  .params = {Param::in("w"), Param::in("x"), Param::out("y"), rows, cols},
                  .op = OpKind::Gemv,
                  .cpu = gemv_cpu(v.rows_per_block(), false),
                  .cuda = gemv_cuda_kernel(v.rows_per_group, v.warps_per_group, false),
                  .programmatic_dependency = true});
    registry.add(
        {.name = std::string(v.bias_kernel),
         .params = {Param::in("w"), Param::in("x"), Param::in("bias"), Param::out("y"), rows, cols},
         .op = OpKind::Gemv,
         .cpu = gemv_cpu(v.rows_per_block(), true),
         .cuda = gemv_cuda_kernel(v.rows_per_group, v.warps_per_group, true),
         .programmatic_dependency = true});
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

std::vector<KernelVariant> gemv_variant_table() {
  std::vector<KernelVariant> out;
  for (const detail::GemvVariant& v : detail::gemv_variants()) {
    out.push_back({std::string(v.predicate), std::string(v.name), std::string(v.kernel)});
  }
  return out;
}

std::string gemv_kernel_for(std::uint32_t rows, std::uint32_t cols, bool bias) {
  const detail::GemvVariant& v = detail::gemv_variants()[detail::gemv_variant_index(rows, cols)];
  return std::string(bias ? v.bias_kernel : v.kernel);
}

void OpEncoder::gemv(Encoder& enc, const BufferView& w, const BufferView& x, const BufferView& y,
                     std::uint32_t rows, std::uint32_t cols, const std::optional<BufferView>& bias,
                     std::string_view label) const {
  constexpr std::string_view op = "gemv";
  detail::require(can_gemv(rows, cols), op, label);
  detail::expect_elements(op, label, "w", w, std::uint64_t{rows} * cols, 2);
  detail::expect_elements(op, label, "x", x, cols, sizeof(float));
  detail::expect_elements(op, label, "y", y, rows, sizeof(float));
  if (bias) detail::expect_elements(op, label, "bias", *bias, rows, sizeof(float));
  detail::expect_aligned(op, label, "w", w, 16);
  detail::expect_aligned(op, label, "x", x, 16);
  if (x.buffer().id() == y.buffer().id() && overlaps(x.range(), y.range())) {
    detail::throw_invalid(op, label, "y overlaps x (the kernel reads x while it writes y)");
  }
  const std::size_t i = detail::gemv_variant_index(rows, cols);
  const detail::GemvVariant& variant = detail::gemv_variants()[i];
  const auto blocks = static_cast<std::uint32_t>(detail::ceil_div(rows, variant.rows_per_block()));
  const Launch launch = Launch::groups(blocks, detail::kGemvBlockThreads);
  if (bias) {
    enc.dispatch(k_->gemv_bias[i], launch,
                 {in(w), in(x), in(*bias), out(y), value(rows), value(cols)}, {.label = label});
  } else {
    enc.dispatch(k_->gemv[i], launch, {in(w), in(x), out(y), value(rows), value(cols)},
                 {.label = label});
  }
}

}  // namespace encore::ops
