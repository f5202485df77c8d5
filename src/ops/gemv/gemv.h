#pragma once

// bf16 gemv for batch-1 decode: y[rows] = W[rows, cols] x[cols] (+ bias), W bf16 row-major, x, y
// and bias f32, f32 accumulation. The op that decides the decode step time.
//
// Kernel shape (gemv_kernel.cuh): blocks of 256 threads = 8 warps. A variant is (R, S): a group
// of S warps computes R output rows, each warp taking every S-th 512-byte slice of the rows (so
// one warp-wide load covers 32 consecutive 16-byte weight vectors of a row), and a block holds
// 8 / S groups, i.e. 8 R / S rows. S > 1 is split-K inside the block (partial sums meet in
// shared memory), so small matrices still put enough loads in flight on every SM.
//
// Families: what comes in (x) times what goes out (y), each with its own kernels per variant.
// Params in this order, where present: w, x (or a), b, norm_w, sum, bias, y, k_cache, v_cache,
// inv_freq, rows, cols, eps, pos, rope.
//  - x: gemv*: x itself; gemv_norm*: rms_norm(x) * norm_w; gemv_add_norm*: rms_norm(a + b) *
//    norm_w, with sum = a + b. The norm families compute x in every block, in shared memory,
//    from a few thousand floats that sit in L2; block 0 alone writes sum (which therefore must
//    not overlap a or b).
//  - y: plain; _bias (y = W x + bias); _silu (y = silu(W_gate x) * (W_up x)); _rope_kv and
//    _bias_rope_kv (y = rope(q), caches[pos] = bf16(rope(k)), bf16(v)).
// The silu and rope outputs are paired: two weight rows per output row, which meet in
// registers. The silu families hold W as [2 rows, cols] (rows [0, rows) the gate, [rows, 2 rows)
// the up projection) and y has `rows` elements; the rope families take W = [q; k; v] heads and
// `rows` rope pairs (the two elements rope turns together, rope_pair), turn q and k pairs by
// pos, write q to y and k, v to row pos of the bf16 caches (no row at or past max_rows), as
// rope_kv_append does.
//
// The variant is chosen by the first row of a family's table whose predicate holds: a table, so
// a benchmark can print it and the lead can retune it without touching the selection code.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "encore/kernel.h"

#include "ops/rope/rope.h"

namespace encore::ops::detail {

inline constexpr std::uint32_t kGemvBlockThreads = 256;
inline constexpr std::uint32_t kGemvWarps = kGemvBlockThreads / 32;
/// Largest cols of the norm families (x in shared memory: 48 KiB, no opt-in needed).
inline constexpr std::uint32_t kGemvNormMaxCols = 12288;
/// Largest cols whose norm weight the norm families copy into shared memory beside x before
/// their PDL wait (both in 48 KiB); wider ones read it after the wait.
inline constexpr std::uint32_t kGemvNormPreloadMaxCols = kGemvNormMaxCols / 2;
/// The norm families launch at most this many blocks per multiprocessor (DeviceLimits), each
/// forming x once and then striding over the row groups the rows need (gemv_kernel.cuh), rather
/// than one block per row group each forming x again; their kernels are built to fit this many
/// blocks of kGemvBlockThreads on a multiprocessor (__launch_bounds__, at most 85 registers).
inline constexpr std::uint32_t kGemvNormBlocksPerProcessor = 3;

/// Where x comes from.
enum class GemvInput : std::uint8_t { X, Norm, AddNorm };
/// What the output is.
enum class GemvOutput : std::uint8_t { Plain, Bias, SiluMul, RopeKv, RopeKvBias };

inline constexpr std::size_t kGemvInputCount = 3;
inline constexpr std::size_t kGemvOutputCount = 5;

/// Outputs computed from two weight rows each (silu*mul, rope).
ENCORE_OPS_HOST_DEVICE constexpr bool gemv_paired(GemvOutput o) {
  return o == GemvOutput::SiluMul || o == GemvOutput::RopeKv || o == GemvOutput::RopeKvBias;
}
ENCORE_OPS_HOST_DEVICE constexpr bool gemv_has_bias(GemvOutput o) {
  return o == GemvOutput::Bias || o == GemvOutput::RopeKvBias;
}
ENCORE_OPS_HOST_DEVICE constexpr bool gemv_rope(GemvOutput o) {
  return o == GemvOutput::RopeKv || o == GemvOutput::RopeKvBias;
}
/// Whether a norm family's launch of `cols` holds the norm weight in shared memory after x
/// (the launch's shared memory and the kernel's layout both follow it).
ENCORE_OPS_HOST_DEVICE constexpr bool gemv_norm_w_preloaded(std::uint32_t cols) {
  return cols <= kGemvNormPreloadMaxCols;
}

/// One gemv variant and the predicate (on output rows, cols) that selects it.
struct GemvVariant {
  std::string_view name;  ///< "r2s1": R output rows per warp group, S warps per group
  std::uint32_t rows_per_group;
  std::uint32_t warps_per_group;
  std::string_view predicate;  ///< the predicate as text, for printing
  bool (*matches)(std::uint32_t rows, std::uint32_t cols);

  constexpr std::uint32_t rows_per_block() const {
    return kGemvWarps / warps_per_group * rows_per_group;
  }
};

inline constexpr std::size_t kGemvVariantCount = 5;
inline constexpr std::size_t kGemvPairVariantCount = 3;

/// The selection table of the plain and bias outputs (first match wins; the last row always
/// matches), and the one of the paired outputs (rows = output rows, i.e. pairs).
std::span<const GemvVariant, kGemvVariantCount> gemv_variants();
std::span<const GemvVariant, kGemvPairVariantCount> gemv_pair_variants();
/// The table of an output kind.
std::span<const GemvVariant> gemv_table(GemvOutput output);
/// Index into gemv_table(output) of the variant for a shape.
std::size_t gemv_variant_index(GemvOutput output, std::uint32_t rows, std::uint32_t cols);

/// The parameters a gemv kernel may take; gemv_arg_order lists a family's in order.
enum class GemvArg : std::uint8_t {
  W,
  X,
  B,
  NormW,
  Sum,
  Bias,
  Y,
  KCache,
  VCache,
  InvFreq,
  Rows,
  Cols,
  Eps,
  Pos,
  Rope
};
std::vector<GemvArg> gemv_arg_order(GemvInput input, GemvOutput output);

/// Index of each parameter of a family's kernels (kNoArg where the family has none).
inline constexpr std::size_t kNoArg = ~std::size_t{0};
struct GemvArgLayout {
  std::size_t x = kNoArg;  ///< x, or a (AddNorm)
  std::size_t b = kNoArg;
  std::size_t norm_w = kNoArg;
  std::size_t sum = kNoArg;
  std::size_t bias = kNoArg;
  std::size_t y = kNoArg;
  std::size_t k_cache = kNoArg;
  std::size_t v_cache = kNoArg;
  std::size_t inv_freq = kNoArg;
  std::size_t rows = kNoArg;
  std::size_t cols = kNoArg;
  std::size_t eps = kNoArg;
  std::size_t pos = kNoArg;
  std::size_t rope = kNoArg;  ///< RopeKvParams
  std::size_t count = 0;
};
GemvArgLayout gemv_arg_layout(GemvInput input, GemvOutput output);

/// Registered name: "gemv[_norm|_add_norm][_bias][_silu|_rope_kv]_bf16_<variant>".
std::string gemv_kernel_name(GemvInput input, GemvOutput output, std::string_view variant);

/// The `__global__` address of the (R, S) instantiation of a family; null when that shape is
/// not compiled (or without CUDA).
const void* gemv_cuda_kernel(GemvInput input, GemvOutput output, std::uint32_t rows_per_group,
                             std::uint32_t warps_per_group);

/// The norm families' part of gemv_cuda_kernel (gemv_norm.cu), and the rope outputs' of every
/// input (gemv_rope.cu).
const void* gemv_norm_cuda_kernel(GemvInput input, GemvOutput output, std::uint32_t rows_per_group,
                                  std::uint32_t warps_per_group);
const void* gemv_rope_cuda_kernel(GemvInput input, GemvOutput output, std::uint32_t rows_per_group,
                                  std::uint32_t warps_per_group);

/// CPU reference of a family with `rows_per_block` output rows per block.
CpuKernelFn gemv_cpu(GemvInput input, GemvOutput output, std::uint32_t rows_per_block);

void register_gemv_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
