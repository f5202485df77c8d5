// rope_f32 and rope_kv_append_bf16: registry entries, can_rope, can_rope_kv_append and the
// OpEncoder helpers.

#include "ops/rope/rope.h"

#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

void register_rope_kernels(KernelRegistry& registry) {
  const auto u32 = [](const char* name) { return Param::value<std::uint32_t>(name); };
  const RopeCudaKernels cuda = rope_cuda_kernels();
  registry.add({.name = "rope_f32",
                .params = {Param::inout("x"), Param::in("inv_freq"), u32("pos"), u32("n_heads"),
                           u32("head_dim"), u32("style")},
                .op = OpKind::Rope,
                .cpu = rope_cpu,
                .cuda = cuda.rope,
                .programmatic_dependency = true});
  registry.add({.name = "rope_kv_append_bf16",
                .params = {Param::inout("q"), Param::in("k"), Param::in("v"), Param::in("inv_freq"),
                           Param::inout("k_cache"), Param::inout("v_cache"), u32("pos"),
                           Param::value<RopeKvParams>("params")},
                .op = OpKind::KvAppend,
                .cpu = rope_kv_append_cpu,
                .cuda = cuda.rope_kv_append,
                .programmatic_dependency = true});
}

}  // namespace detail

Support can_rope(std::uint32_t head_dim) {
  if (head_dim < 2 || head_dim % 2 != 0) {
    return detail::refuse("head_dim must be even and at least 2, got " + std::to_string(head_dim));
  }
  return {};
}

Support can_rope_kv_append(std::uint32_t n_heads, std::uint32_t n_kv_heads,
                           std::uint32_t head_dim) {
  if (Support s = can_rope(head_dim); !s) return s;
  if (n_heads == 0 || n_kv_heads == 0) {
    return detail::refuse("n_heads and n_kv_heads must be at least 1");
  }
  const std::uint64_t items =
      (std::uint64_t{n_heads} + 2ULL * n_kv_heads) * (std::uint64_t{head_dim} / 2);
  if (items > UINT32_MAX / 2)
    return detail::refuse("(n_heads + 2 n_kv_heads) * head_dim is too large");
  return {};
}

void OpEncoder::rope(Encoder& enc, const BufferView& x, const BufferView& inv_freq,
                     std::uint32_t n_heads, std::uint32_t head_dim, const Arg& pos, RopeStyle style,
                     std::string_view label) const {
  constexpr std::string_view op = "rope";
  detail::require(can_rope(head_dim), op, label);
  if (n_heads == 0) detail::throw_invalid(op, label, "n_heads must be at least 1");
  detail::expect_u32_scalar(op, label, "pos", pos);
  const std::uint64_t pairs = std::uint64_t{n_heads} * (head_dim / 2);
  if (pairs > UINT32_MAX / 2) detail::throw_invalid(op, label, "n_heads * head_dim is too large");
  detail::expect_elements(op, label, "x", x, pairs * 2, sizeof(float));
  detail::expect_elements(op, label, "inv_freq", inv_freq, head_dim / 2, sizeof(float));
  const std::uint32_t style_value = style == RopeStyle::NeoX ? 0U : 1U;
  enc.dispatch(k_->rope, Launch::threads(static_cast<std::uint32_t>(pairs), detail::kRopeBlock),
               {inout(x), in(inv_freq), pos, value(n_heads), value(head_dim), value(style_value)},
               {.label = label});
}

void OpEncoder::rope_kv_append(Encoder& enc, const BufferView& q, const BufferView& k,
                               const BufferView& v, const BufferView& inv_freq,
                               const BufferView& k_cache, const BufferView& v_cache,
                               std::uint32_t n_heads, std::uint32_t n_kv_heads,
                               std::uint32_t head_dim, const Arg& pos, RopeStyle style,
                               std::string_view label) const {
  constexpr std::string_view op = "rope_kv_append";
  detail::require(can_rope_kv_append(n_heads, n_kv_heads, head_dim), op, label);
  detail::expect_u32_scalar(op, label, "pos", pos);
  const std::uint64_t row_elems = std::uint64_t{n_kv_heads} * head_dim;
  detail::expect_elements(op, label, "q", q, std::uint64_t{n_heads} * head_dim, sizeof(float));
  detail::expect_elements(op, label, "k", k, row_elems, sizeof(float));
  detail::expect_elements(op, label, "v", v, row_elems, sizeof(float));
  detail::expect_elements(op, label, "inv_freq", inv_freq, head_dim / 2, sizeof(float));
  if (!k_cache.buffer()) detail::throw_invalid(op, label, "k_cache is a null buffer");
  const std::uint64_t elements = detail::element_count(op, label, "k_cache", k_cache, 2);
  if (elements == 0 || elements % row_elems != 0) {
    detail::throw_invalid(op, label,
                          "k_cache holds " + std::to_string(elements) +
                              " bf16 values, not a positive multiple of n_kv_heads * head_dim = " +
                              std::to_string(row_elems));
  }
  detail::expect_elements(op, label, "v_cache", v_cache, elements, 2);
  if (elements / row_elems > UINT32_MAX) {
    detail::throw_invalid(op, label, "the caches hold over 2^32 rows");
  }
  // q is written while k, v and the caches are read or written by other threads.
  detail::expect_no_overlap(
      op, label, "q", q,
      {{"k", k}, {"v", v}, {"inv_freq", inv_freq}, {"k_cache", k_cache}, {"v_cache", v_cache}});
  detail::expect_no_overlap(op, label, "k_cache", k_cache,
                            {{"k", k}, {"v", v}, {"v_cache", v_cache}});
  detail::expect_no_overlap(op, label, "v_cache", v_cache, {{"k", k}, {"v", v}});
  const detail::RopeKvParams params{.n_heads = n_heads,
                                    .n_kv_heads = n_kv_heads,
                                    .head_dim = head_dim,
                                    .style = style == RopeStyle::NeoX ? 0U : 1U,
                                    .max_rows = static_cast<std::uint32_t>(elements / row_elems),
                                    .one_row = 0};
  enc.dispatch(
      k_->rope_kv_append,
      Launch::threads(static_cast<std::uint32_t>(detail::rope_kv_items(params)),
                      detail::kRopeBlock),
      {inout(q), in(k), in(v), in(inv_freq), inout(k_cache), inout(v_cache), pos, value(params)},
      {.label = label});
}

}  // namespace encore::ops
