// rope_f32: registry entry, can_rope and OpEncoder::rope.

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
  registry.add({.name = "rope_f32",
                .params = {Param::inout("x"), Param::in("inv_freq"), u32("pos"), u32("n_heads"),
                           u32("head_dim"), u32("style")},
                .op = OpKind::Rope,
                .cpu = rope_cpu,
                .cuda = rope_cuda_kernels().rope,
                .programmatic_dependency = true});
}

}  // namespace detail

Support can_rope(std::uint32_t head_dim) {
  if (head_dim < 2 || head_dim % 2 != 0) {
    return detail::refuse("head_dim must be even and at least 2, got " + std::to_string(head_dim));
  }
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
  enc.dispatch(k_->rope, Launch::threads(static_cast<std::uint32_t>(pairs), 128),
               {inout(x), in(inv_freq), pos, value(n_heads), value(head_dim), value(style_value)},
               {.label = label});
}

}  // namespace encore::ops
