// CPU references of the argmax kernels. Block b of the first stage scans the same elements as
// the CUDA block b (the 256-element chunks b, b + blocks, ...); the pair it keeps does not depend
// on the order of the scan, since ties go to the lowest index.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ops/argmax/argmax.h"
#include "ops/op_common.h"

namespace encore::ops::detail {

namespace {

struct Best {
  float value = -std::numeric_limits<float>::infinity();
  std::uint32_t index = UINT32_MAX;

  void consider(float v, std::uint32_t i) {
    if (std::isnan(v)) return;
    if (v > value || (v == value && i < index)) {
      value = v;
      index = i;
    }
  }
};

void write_token(const CpuKernelContext& ctx, std::size_t arg, const Best& best) {
  check_arg_bytes(ctx, arg, sizeof(std::uint32_t), "argmax");
  ctx.ptr<std::uint32_t>(arg)[0] = best.index == UINT32_MAX ? 0U : best.index;
}

}  // namespace

void argmax_single_cpu(const CpuKernelContext& ctx) {
  const auto n = ctx.value<std::uint32_t>(2);
  check_arg_bytes(ctx, 0, std::uint64_t{n} * sizeof(float), "argmax_f32");
  const float* x = ctx.ptr<const float>(0);
  Best best;
  for (std::uint32_t i = 0; i < n; ++i) best.consider(x[i], i);
  write_token(ctx, 1, best);
}

void argmax_partial_cpu(const CpuKernelContext& ctx) {
  const auto n = ctx.value<std::uint32_t>(2);
  const std::uint64_t blocks = ctx.grid().x;
  const std::uint64_t chunk = ctx.block().x;
  check_arg_bytes(ctx, 0, std::uint64_t{n} * sizeof(float), "argmax_partial_f32");
  check_arg_bytes(ctx, 1, blocks * 8, "argmax_partial_f32");
  const float* x = ctx.ptr<const float>(0);
  Best best;
  for (std::uint64_t c = ctx.block_index().x; c * chunk < n; c += blocks) {
    for (std::uint64_t i = c * chunk; i < n && i < (c + 1) * chunk; ++i) {
      best.consider(x[i], static_cast<std::uint32_t>(i));
    }
  }
  std::byte* out = ctx.ptr<std::byte>(1) + std::uint64_t{ctx.block_index().x} * 8;
  std::memcpy(out, &best.value, 4);
  std::memcpy(out + 4, &best.index, 4);
}

void argmax_final_cpu(const CpuKernelContext& ctx) {
  const auto count = ctx.value<std::uint32_t>(2);
  check_arg_bytes(ctx, 0, std::uint64_t{count} * 8, "argmax_final_f32");
  const std::byte* partial = ctx.ptr<const std::byte>(0);
  Best best;
  for (std::uint32_t b = 0; b < count; ++b) {
    float v;
    std::uint32_t i;
    std::memcpy(&v, partial + std::uint64_t{b} * 8, 4);
    std::memcpy(&i, partial + std::uint64_t{b} * 8 + 4, 4);
    if (i != UINT32_MAX) best.consider(v, i);
  }
  write_token(ctx, 1, best);
}

}  // namespace encore::ops::detail
