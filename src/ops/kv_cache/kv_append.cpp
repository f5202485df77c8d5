// kv_append_bf16: registry entry and OpEncoder::kv_append.

#include "ops/kv_cache/kv_append.h"

#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

void register_kv_append_kernels(KernelRegistry& registry) {
  const auto u32 = [](const char* name) { return Param::value<std::uint32_t>(name); };
  registry.add({.name = "kv_append_bf16",
                .params = {Param::in("k"), Param::in("v"), Param::inout("k_cache"),
                           Param::inout("v_cache"), u32("row_elems"), u32("pos"), u32("max_rows")},
                .op = OpKind::KvAppend,
                .cpu = kv_append_cpu,
                .cuda = kv_append_cuda_kernels().kv_append,
                .programmatic_dependency = true});
}

}  // namespace detail

void OpEncoder::kv_append(Encoder& enc, const BufferView& k, const BufferView& v,
                          const BufferView& k_cache, const BufferView& v_cache,
                          std::uint32_t row_elems, const Arg& pos, std::string_view label) const {
  constexpr std::string_view op = "kv_append";
  if (row_elems == 0) detail::throw_invalid(op, label, "row_elems must be at least 1");
  detail::expect_u32_scalar(op, label, "pos", pos);
  detail::expect_elements(op, label, "k", k, row_elems, sizeof(float));
  detail::expect_elements(op, label, "v", v, row_elems, sizeof(float));
  if (!k_cache.buffer()) detail::throw_invalid(op, label, "k_cache is a null buffer");
  const std::uint64_t elements = detail::element_count(op, label, "k_cache", k_cache, 2);
  if (elements == 0 || elements % row_elems != 0) {
    detail::throw_invalid(
        op, label,
        "k_cache holds " + std::to_string(elements) +
            " bf16 values, not a positive multiple of row_elems = " + std::to_string(row_elems));
  }
  detail::expect_elements(op, label, "v_cache", v_cache, elements, 2);
  const std::uint64_t rows = elements / row_elems;
  if (rows > UINT32_MAX) detail::throw_invalid(op, label, "the caches hold over 2^32 rows");
  const auto max_rows = static_cast<std::uint32_t>(rows);
  enc.dispatch(
      k_->kv_append, Launch::threads(row_elems, 256),
      {in(k), in(v), inout(k_cache), inout(v_cache), value(row_elems), pos, value(max_rows)},
      {.label = label});
}

}  // namespace encore::ops
