// The default fusion rules and what a rule's shape check sees of a dispatch.
//
// The norm family's signatures are fixed (docs/adr/0005-passes.md): all f32, rms norms launched
// with one block per row (grid.x = rows) over rows of n elements, elementwise kernels launched by
// threads over n elements; `w` has as many elements as x. So rms_norm_f32 followed by mul_f32 of
// its output is exactly rms_norm_mul_f32 when every view holds rows * n elements and the mul
// covers all of them, and likewise for the add.

#include <string>

#include "encore/passes.h"

#include "ir/passes/program.h"

namespace encore {

namespace {

using detail::BoundArg;

constexpr std::uint64_t kF32 = 4;

// A row kernel (grid.x = rows blocks, one row of n elements each): the views of `params` hold
// rows * n floats.
std::string check_rows(const FusionCandidate& c, std::string_view kernel, std::size_t n_param,
                       std::initializer_list<std::size_t> params) {
  const Launch l = c.launch();
  if (l.grid().y != 1 || l.grid().z != 1) return std::string(kernel) + " launch is not 1-D";
  const std::optional<std::uint32_t> n = c.value<std::uint32_t>(n_param);
  if (!n) return std::string(kernel) + " row length n is a slot, not a fixed value";
  if (*n == 0) return std::string(kernel) + " row length n is 0";
  const std::uint64_t want = std::uint64_t{l.grid().x} * *n * kF32;
  for (std::size_t p : params) {
    if (c.bytes(p) != want) {
      return std::string(kernel) + " param " + std::to_string(p) + " holds " +
             std::to_string(c.bytes(p)) + " bytes, not rows * n * 4 = " + std::to_string(want);
    }
  }
  return {};
}

// An elementwise kernel (in a, in b, out c, value u32 n) launched by threads over n elements.
std::string check_elementwise(const FusionCandidate& c, std::string_view kernel) {
  const std::optional<std::uint32_t> n = c.value<std::uint32_t>(3);
  if (!n) return std::string(kernel) + " element count n is a slot, not a fixed value";
  for (std::size_t p : {0, 1, 2}) {
    if (c.bytes(p) != *n * kF32) {
      return std::string(kernel) + " param " + std::to_string(p) + " holds " +
             std::to_string(c.bytes(p)) + " bytes, not n * 4 = " + std::to_string(*n * kF32);
    }
  }
  const Launch l = c.launch();
  const std::uint64_t threads = std::uint64_t{l.grid().x} * l.block().x;
  if (l.grid().y != 1 || l.grid().z != 1 || threads < *n) {
    return std::string(kernel) + " launch does not cover its n = " + std::to_string(*n) +
           " elements";
  }
  return {};
}

std::string both(std::string first, std::string second) { return first.empty() ? second : first; }

}  // namespace

Launch FusionCandidate::launch() const noexcept { return program_->node(node_).launch; }

std::uint64_t FusionCandidate::bytes(std::size_t param) const {
  const auto args = program_->args(node_);
  if (param >= program_->node(node_).kernel_args) return 0;
  const BoundArg& a = args[param];
  return a.kind == Arg::Kind::Buffer ? a.size : 0;
}

std::span<const std::byte> FusionCandidate::value_bytes(std::size_t param) const {
  const auto args = program_->args(node_);
  if (param >= program_->node(node_).kernel_args) return {};
  const BoundArg& a = args[param];
  if (a.kind != Arg::Kind::Value) return {};
  return {program_->input->value_bytes(a), static_cast<std::size_t>(a.size)};
}

std::vector<FusionRule> default_fusion_rules() {
  using From = FusedArg::From;
  std::vector<FusionRule> rules;
  // rms_norm_f32(x, y, n, eps) ; mul_f32(y, w, out, n) -> rms_norm_mul_f32(x, w, out, n, eps)
  rules.push_back(
      {.first = "rms_norm_f32",
       .second = "mul_f32",
       .fused = "rms_norm_mul_f32",
       .intermediate = 1,
       .second_inputs = {0, 1},
       .args = {{From::First, 0},
                {From::SecondOther, 0},
                {From::Second, 2},
                {From::First, 2},
                {From::First, 3}},
       .note = "mul",
       .check = [](const FusionCandidate& a, const FusionCandidate& b) {
         return both(check_rows(a, "rms_norm_f32", 2, {0, 1}), check_elementwise(b, "mul_f32"));
       }});
  // add_f32(a, b, sum, n) ; rms_norm_f32(sum, y, n, eps) -> add_rms_norm_f32(a, b, sum, y, n, eps)
  rules.push_back(
      {.first = "add_f32",
       .second = "rms_norm_f32",
       .fused = "add_rms_norm_f32",
       .intermediate = 2,
       .second_inputs = {0},
       .args = {{From::First, 0},
                {From::First, 1},
                {From::First, 2},
                {From::Second, 1},
                {From::Second, 2},
                {From::Second, 3}},
       .launch_of_second = true,
       .note = "rms_norm",
       .check = [](const FusionCandidate& a, const FusionCandidate& b) {
         return both(check_elementwise(a, "add_f32"), check_rows(b, "rms_norm_f32", 2, {0, 1}));
       }});
  // add_rms_norm_f32(a, b, sum, y, n, eps) ; mul_f32(y, w, out, n)
  //   -> add_rms_norm_mul_f32(a, b, w, sum, out, n, eps)
  rules.push_back({.first = "add_rms_norm_f32",
                   .second = "mul_f32",
                   .fused = "add_rms_norm_mul_f32",
                   .intermediate = 3,
                   .second_inputs = {0, 1},
                   .args = {{From::First, 0},
                            {From::First, 1},
                            {From::SecondOther, 0},
                            {From::First, 2},
                            {From::Second, 2},
                            {From::First, 4},
                            {From::First, 5}},
                   .note = "mul",
                   .check = [](const FusionCandidate& a, const FusionCandidate& b) {
                     return both(check_rows(a, "add_rms_norm_f32", 4, {0, 1, 2, 3}),
                                 check_elementwise(b, "mul_f32"));
                   }});
  return rules;
}

}  // namespace encore
