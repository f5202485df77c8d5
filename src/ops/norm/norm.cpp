// The RMS-norm family: registry entries, can_rms_norm and the OpEncoder helpers.

#include "ops/norm/norm.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "encore/ops.h"

#include "ops/op_common.h"
#include "ops/op_kernels.h"

namespace encore::ops {

namespace detail {

std::uint32_t norm_block_threads(std::uint32_t n) {
  const std::uint64_t per_eight = ceil_div(n, 8);
  const std::uint64_t rounded = ceil_div(per_eight, 32) * 32;
  return static_cast<std::uint32_t>(rounded < 32 ? 32 : (rounded > 1024 ? 1024 : rounded));
}

void register_norm_kernels(KernelRegistry& registry) {
  const NormCudaKernels cuda = norm_cuda_kernels();
  const Param n = Param::value<std::uint32_t>("n");
  const Param eps = Param::value<float>("eps");
  registry.add({.name = "rms_norm_f32",
                .params = {Param::in("x"), Param::out("y"), n, eps},
                .op = OpKind::RmsNorm,
                .cpu = rms_norm_cpu,
                .cuda = cuda.rms_norm,
                .programmatic_dependency = true});
  registry.add({.name = "rms_norm_mul_f32",
                .params = {Param::in("x"), Param::in("w"), Param::out("y"), n, eps},
                .op = OpKind::RmsNormMul,
                .cpu = rms_norm_mul_cpu,
                .cuda = cuda.rms_norm_mul,
                .programmatic_dependency = true});
  registry.add(
      {.name = "add_rms_norm_f32",
       .params = {Param::in("a"), Param::in("b"), Param::out("sum"), Param::out("y"), n, eps},
       .op = OpKind::AddRmsNorm,
       .cpu = add_rms_norm_cpu,
       .cuda = cuda.add_rms_norm,
       .programmatic_dependency = true});
  registry.add({.name = "add_rms_norm_mul_f32",
                .params = {Param::in("a"), Param::in("b"), Param::in("w"), Param::out("sum"),
                           Param::out("y"), n, eps},
                .op = OpKind::AddRmsNorm,
                .cpu = add_rms_norm_mul_cpu,
                .cuda = cuda.add_rms_norm_mul,
                .programmatic_dependency = true});
}

namespace {

// Rows of n in x, after checking n, eps and x; throws naming `op` and `label`.
std::uint32_t norm_rows(std::string_view op, std::string_view label, const BufferView& x,
                        std::uint32_t n, float eps, const DeviceLimits& limits) {
  require(can_rms_norm(n), op, label);
  if (!std::isfinite(eps) || eps < 0.0F) {
    throw_invalid(op, label, "eps must be finite and >= 0, got " + std::to_string(eps));
  }
  if (!x.buffer()) throw_invalid(op, label, "x is a null buffer");
  const std::uint64_t elements = element_count(op, label, "x", x, sizeof(float));
  if (elements == 0 || elements % n != 0) {
    throw_invalid(op, label,
                  "x holds " + std::to_string(elements) +
                      " floats, not a positive multiple of n = " + std::to_string(n));
  }
  const std::uint64_t rows = elements / n;
  if (rows > limits.max_grid.x) {
    throw_invalid(op, label,
                  std::to_string(rows) + " rows exceed the device's grid limit of " +
                      std::to_string(limits.max_grid.x));
  }
  return static_cast<std::uint32_t>(rows);
}

Launch norm_launch(std::uint32_t rows, std::uint32_t n) {
  return Launch::groups(rows, norm_block_threads(n));
}

}  // namespace

}  // namespace detail

Support can_rms_norm(std::uint32_t n) {
  if (n == 0) return detail::refuse("n (the row length) must be at least 1");
  return {};
}

void OpEncoder::rms_norm(Encoder& enc, const BufferView& x, const BufferView& y, std::uint32_t n,
                         float eps, std::string_view label) const {
  constexpr std::string_view op = "rms_norm";
  const std::uint32_t rows = detail::norm_rows(op, label, x, n, eps, k_->limits);
  const std::uint64_t count = std::uint64_t{rows} * n;
  detail::expect_elements(op, label, "y", y, count, sizeof(float));
  enc.dispatch(k_->rms_norm, detail::norm_launch(rows, n), {in(x), out(y), value(n), value(eps)},
               {.label = label});
}

void OpEncoder::rms_norm_mul(Encoder& enc, const BufferView& x, const BufferView& w,
                             const BufferView& y, std::uint32_t n, float eps,
                             std::string_view label) const {
  constexpr std::string_view op = "rms_norm_mul";
  const std::uint32_t rows = detail::norm_rows(op, label, x, n, eps, k_->limits);
  const std::uint64_t count = std::uint64_t{rows} * n;
  detail::expect_elements(op, label, "w", w, count, sizeof(float));
  detail::expect_elements(op, label, "y", y, count, sizeof(float));
  enc.dispatch(k_->rms_norm_mul, detail::norm_launch(rows, n),
               {in(x), in(w), out(y), value(n), value(eps)}, {.label = label});
}

void OpEncoder::add_rms_norm(Encoder& enc, const BufferView& a, const BufferView& b,
                             const BufferView& sum, const BufferView& y, std::uint32_t n, float eps,
                             std::string_view label) const {
  constexpr std::string_view op = "add_rms_norm";
  const std::uint32_t rows = detail::norm_rows(op, label, a, n, eps, k_->limits);
  const std::uint64_t count = std::uint64_t{rows} * n;
  detail::expect_elements(op, label, "b", b, count, sizeof(float));
  detail::expect_elements(op, label, "sum", sum, count, sizeof(float));
  detail::expect_elements(op, label, "y", y, count, sizeof(float));
  enc.dispatch(k_->add_rms_norm, detail::norm_launch(rows, n),
               {in(a), in(b), out(sum), out(y), value(n), value(eps)}, {.label = label});
}

void OpEncoder::add_rms_norm_mul(Encoder& enc, const BufferView& a, const BufferView& b,
                                 const BufferView& w, const BufferView& sum, const BufferView& y,
                                 std::uint32_t n, float eps, std::string_view label) const {
  constexpr std::string_view op = "add_rms_norm_mul";
  const std::uint32_t rows = detail::norm_rows(op, label, a, n, eps, k_->limits);
  const std::uint64_t count = std::uint64_t{rows} * n;
  detail::expect_elements(op, label, "b", b, count, sizeof(float));
  detail::expect_elements(op, label, "w", w, count, sizeof(float));
  detail::expect_elements(op, label, "sum", sum, count, sizeof(float));
  detail::expect_elements(op, label, "y", y, count, sizeof(float));
  enc.dispatch(k_->add_rms_norm_mul, detail::norm_launch(rows, n),
               {in(a), in(b), in(w), out(sum), out(y), value(n), value(eps)}, {.label = label});
}

}  // namespace encore::ops
