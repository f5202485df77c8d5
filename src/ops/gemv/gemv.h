#pragma once

// bf16 gemv for batch-1 decode: y[rows] = W[rows, cols] x[cols] (+ bias), W bf16 row-major, x, y
// and bias f32, f32 accumulation. The op that decides the decode step time.
//
// Kernel shape (gemv.cu): blocks of 256 threads = 8 warps. A variant is (R, S): a group of S
// warps computes R rows, each warp taking every S-th 512-byte slice of the rows (so one warp-wide
// load covers 32 consecutive 16-byte weight vectors of a row), and a block holds 8 / S groups,
// i.e. 8 R / S rows. S > 1 is split-K inside the block (partial sums meet in shared memory), so
// small matrices still put enough loads in flight on every SM. Kernel parameters of every
// variant: in w, in x, [in bias,] out y, value u32 rows, value u32 cols.
//
// The variant is chosen by the first row of gemv_variants() whose predicate holds: a table, so a
// benchmark can print it and the lead can retune it without touching the selection code.

#include <cstdint>
#include <span>
#include <string_view>

#include "encore/kernel.h"

namespace encore::ops::detail {

inline constexpr std::uint32_t kGemvBlockThreads = 256;
inline constexpr std::uint32_t kGemvWarps = kGemvBlockThreads / 32;

/// One gemv variant and the predicate (on rows, cols) that selects it.
struct GemvVariant {
  std::string_view name;         ///< "r2s1": R rows per warp group, S warps per group
  std::string_view kernel;       ///< registered name, without bias
  std::string_view bias_kernel;  ///< registered name, with a bias
  std::uint32_t rows_per_group;
  std::uint32_t warps_per_group;
  std::string_view predicate;  ///< the predicate as text, for printing
  bool (*matches)(std::uint32_t rows, std::uint32_t cols);

  constexpr std::uint32_t rows_per_block() const {
    return kGemvWarps / warps_per_group * rows_per_group;
  }
};

inline constexpr std::size_t kGemvVariantCount = 5;

/// The selection table, first match wins; the last row always matches.
std::span<const GemvVariant, kGemvVariantCount> gemv_variants();
/// Index into gemv_variants() of the variant for a shape.
std::size_t gemv_variant_index(std::uint32_t rows, std::uint32_t cols);

/// The `__global__` address of the (R, S) instantiation, plain or with a bias; null when that
/// shape is not compiled (or without CUDA).
const void* gemv_cuda_kernel(std::uint32_t rows_per_group, std::uint32_t warps_per_group,
                             bool bias);

/// CPU reference of a variant with `rows_per_block` rows per block (bias or not).
CpuKernelFn gemv_cpu(std::uint32_t rows_per_block, bool bias);

void register_gemv_kernels(KernelRegistry& registry);

}  // namespace encore::ops::detail
