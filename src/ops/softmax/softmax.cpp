// softmax_f32: registry entry and OpEncoder::softmax.

#include "ops/softmax/softmax.h"

#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/norm/norm.h"
#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

void register_softmax_kernels(KernelRegistry& registry) {
  registry.add({.name = "softmax_f32",
                .params = {Param::in("x"), Param::out("y"), Param::value<std::uint32_t>("n")},
                .op = OpKind::Softmax,
                .cpu = softmax_cpu,
                .cuda = softmax_cuda_kernels().softmax,
                .programmatic_dependency = true});
}

}  // namespace detail

void OpEncoder::softmax(Encoder& enc, const BufferView& x, const BufferView& y, std::uint32_t rows,
                        std::uint32_t n, std::string_view label) const {
  constexpr std::string_view op = "softmax";
  if (rows == 0 || n == 0) detail::throw_invalid(op, label, "rows and n must be at least 1");
  if (rows > k_->limits.max_grid.x) {
    detail::throw_invalid(op, label, std::to_string(rows) + " rows exceed the grid limit");
  }
  const std::uint64_t count = std::uint64_t{rows} * n;
  detail::expect_elements(op, label, "x", x, count, sizeof(float));
  detail::expect_elements(op, label, "y", y, count, sizeof(float));
  // Same threads per row as the norms: a multiple of 32, about 8 elements each.
  enc.dispatch(k_->softmax, Launch::groups(rows, detail::norm_block_threads(n)),
               {in(x), out(y), value(n)}, {.label = label});
}

}  // namespace encore::ops
