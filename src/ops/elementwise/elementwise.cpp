// Elementwise ops: registry entry of silu_mul_f32 and the OpEncoder helpers add, mul, silu_mul.

#include "ops/elementwise/elementwise.h"

#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

void register_elementwise_kernels(KernelRegistry& registry) {
  registry.add({.name = "silu_mul_f32",
                .params = {Param::in("gate"), Param::in("up"), Param::out("out"),
                           Param::value<std::uint32_t>("n")},
                .op = OpKind::SiluMul,
                .cpu = silu_mul_cpu,
                .cuda = elementwise_cuda_kernels().silu_mul,
                .programmatic_dependency = true});
}

namespace {

// Names of a binary op's operands, for error messages.
struct Operands {
  std::string_view a;
  std::string_view b;
  std::string_view c;
};

// c = f(a, b) over n = elements of c, with a and b of the same size.
void binary(Encoder& enc, const Kernel& kernel, std::string_view op, std::string_view label,
            const Operands& names, const BufferView& a, const BufferView& b, const BufferView& c) {
  if (!c.buffer()) throw_invalid(op, label, std::string(names.c) + " is a null buffer");
  const std::uint64_t n = element_count(op, label, names.c, c, sizeof(float));
  if (n == 0) throw_invalid(op, label, std::string(names.c) + " holds no elements");
  if (n > UINT32_MAX) {
    throw_invalid(op, label, std::to_string(n) + " elements exceed the 32-bit element count");
  }
  expect_elements(op, label, names.a, a, n, sizeof(float));
  expect_elements(op, label, names.b, b, n, sizeof(float));
  const auto count = static_cast<std::uint32_t>(n);
  enc.dispatch(kernel, Launch::threads(count, kElementwiseBlock),
               {in(a), in(b), out(c), value(count)}, {.label = label});
}

}  // namespace

}  // namespace detail

void OpEncoder::add(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& c,
                    std::string_view label) const {
  detail::binary(enc, k_->add, "add", label, {"a", "b", "c"}, a, b, c);
}

void OpEncoder::mul(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& c,
                    std::string_view label) const {
  detail::binary(enc, k_->mul, "mul", label, {"a", "b", "c"}, a, b, c);
}

void OpEncoder::silu_mul(Encoder& enc, const BufferView& gate, const BufferView& up,
                         const BufferView& out, std::string_view label) const {
  detail::binary(enc, k_->silu_mul, "silu_mul", label, {"gate", "up", "out"}, gate, up, out);
}

}  // namespace encore::ops
