#pragma once

// What every op's encode helper and CPU reference shares: refusing bad input with an Error that
// names the op and the label, checking that a view holds exactly the elements an op touches, and
// the CPU kernels' own guard against views too small for the launch.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "encore/arg.h"
#include "encore/buffer.h"
#include "encore/kernel.h"
#include "encore/ops.h"

namespace encore::ops::detail {

/// A refusal with its reason.
Support refuse(std::string reason);

/// Throws Error(InvalidArgument) "<op> '<label>': <reason>".
[[noreturn]] void throw_invalid(std::string_view op, std::string_view label,
                                const std::string& reason);

/// Throws (as above) when `support` refuses.
void require(const Support& support, std::string_view op, std::string_view label);

/// Throws (as above) unless `view` holds exactly `count` elements of `element_bytes` each.
void expect_elements(std::string_view op, std::string_view label, std::string_view name,
                     const BufferView& view, std::uint64_t count, std::uint32_t element_bytes);

/// Throws (as above) unless `view` starts at a multiple of `alignment` bytes of its allocation
/// (allocations themselves are at least 256-byte aligned), for kernels that load 16 bytes at once.
void expect_aligned(std::string_view op, std::string_view label, std::string_view name,
                    const BufferView& view, std::uint32_t alignment);

/// Elements of `element_bytes` in `view`; throws (as above) when the size is not a multiple.
std::uint64_t element_count(std::string_view op, std::string_view label, std::string_view name,
                            const BufferView& view, std::uint32_t element_bytes);

/// One of an op's views with the name its messages give it.
struct NamedView {
  std::string_view name;
  BufferView view;
};

/// Whether two views share bytes (one allocation, overlapping ranges).
bool views_overlap(const BufferView& a, const BufferView& b);

/// Throws (as above) "<name> overlaps <other>" for the first of `others` that shares bytes with
/// `view`: the kernel writes `view` while its other threads may still read or write those.
void expect_no_overlap(std::string_view op, std::string_view label, std::string_view name,
                       const BufferView& view, std::initializer_list<NamedView> others);

/// Throws (as above) unless `arg` is a u32 value or slot (a per-step scalar: pos, kv_len).
void expect_u32_scalar(std::string_view op, std::string_view label, std::string_view name,
                       const Arg& arg);

/// CPU kernels: throws Error(KernelFailed) unless buffer arg `arg` holds at least `bytes`, so a
/// kernel dispatched directly with views too small for its launch fails instead of overrunning.
void check_arg_bytes(const CpuKernelContext& ctx, std::size_t arg, std::uint64_t bytes,
                     std::string_view kernel);

/// ceil(n / d) for d > 0.
constexpr std::uint64_t ceil_div(std::uint64_t n, std::uint64_t d) { return (n + d - 1) / d; }

}  // namespace encore::ops::detail
