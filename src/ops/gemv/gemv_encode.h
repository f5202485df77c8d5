#pragma once

// What OpEncoder::gemv and OpEncoder::gemv_fused share: the kernels of every family resolved on
// a device (one slot per family and variant), and the checked encode of one gemv.

#include <cstddef>
#include <span>
#include <string_view>

#include "encore/device.h"
#include "encore/encoder.h"
#include "encore/kernel.h"
#include "encore/ops.h"

#include "ops/gemv/gemv.h"

namespace encore::ops::detail {

/// Slots of OpEncoder::Kernels::gemv: [input][output][variant].
inline constexpr std::size_t kGemvKernelSlots =
    kGemvInputCount * kGemvOutputCount * kGemvVariantCount;
std::size_t gemv_kernel_slot(GemvInput input, GemvOutput output, std::size_t variant);

/// Resolves every family's kernels on `device` into `out` (kGemvKernelSlots entries).
void resolve_gemv_kernels(const Device& device, std::span<Kernel> out);

/// Checks the views and shape (throwing Error(InvalidArgument) "<op> '<label>': ...") and
/// encodes one gemv of the family `fusion` asks for; a norm family's grid holds at most
/// kGemvNormBlocksPerProcessor blocks per multiprocessor of the device.
void encode_gemv(std::span<const Kernel> kernels, std::uint32_t multiprocessors, Encoder& enc,
                 std::string_view op, const BufferView& w, const BufferView& x, const BufferView& y,
                 std::uint32_t rows, std::uint32_t cols, const GemvFusion& fusion,
                 std::string_view label);

}  // namespace encore::ops::detail
