// embedding_bf16: registry entry and OpEncoder::embedding.

#include "ops/embedding/embedding.h"

#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

void register_embedding_kernels(KernelRegistry& registry) {
  registry.add(
      {.name = "embedding_bf16",
       .params = {Param::in("table"), Param::in("token"), Param::out("out"),
                  Param::value<std::uint32_t>("dim"), Param::value<std::uint32_t>("vocab")},
       .op = OpKind::Embedding,
       .cpu = embedding_cpu,
       .cuda = embedding_cuda_kernels().embedding,
       .programmatic_dependency = true});
}

}  // namespace detail

void OpEncoder::embedding(Encoder& enc, const BufferView& table, const BufferView& token,
                          const BufferView& out, std::uint32_t dim, std::string_view label) const {
  constexpr std::string_view op = "embedding";
  if (dim == 0) detail::throw_invalid(op, label, "dim must be at least 1");
  if (!table.buffer()) detail::throw_invalid(op, label, "table is a null buffer");
  const std::uint64_t elements = detail::element_count(op, label, "table", table, 2);
  if (elements == 0 || elements % dim != 0) {
    detail::throw_invalid(
        op, label,
        "table holds " + std::to_string(elements) +
            " bf16 values, not a positive multiple of dim = " + std::to_string(dim));
  }
  const std::uint64_t vocab = elements / dim;
  if (vocab > UINT32_MAX) {
    detail::throw_invalid(op, label, std::to_string(vocab) + " rows exceed a u32 token id");
  }
  detail::expect_elements(op, label, "token", token, 1, sizeof(std::uint32_t));
  detail::expect_elements(op, label, "out", out, dim, sizeof(float));
  const auto rows = static_cast<std::uint32_t>(vocab);
  enc.dispatch(k_->embedding, Launch::threads(dim, 256),
               {in(table), in(token), encore::out(out), value(dim), value(rows)}, {.label = label});
}

}  // namespace encore::ops
