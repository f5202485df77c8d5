#pragma once

/// \file
/// The two kernels encore-llm adds to the op library, registered through the public registry:
///
/// | name               | params                                                     | op     |
/// |--------------------|------------------------------------------------------------|--------|
/// | llm_next_token_u32 | in argmax, inout history, out token, value u32 pos,        | Other  |
/// |                    | value u32 prompt_len                                       |        |
/// | llm_stream_read_f32| in x, out partial, value u32 n4                            | Reduce |
///
/// llm_next_token_u32 (one thread) chooses the token the next decode step embeds, on the
/// device, so the decode loop needs no host round trip: the prompt token history[pos + 1] while
/// pos + 1 < prompt_len (the host uploads the prompt into history first), else the argmax of
/// this step, which it also appends to history[pos + 1]. history holds the whole sequence.
///
/// llm_stream_read_f32 sums x (n4 float4 groups) into one partial per block with 16-byte loads,
/// the streaming read that encore-llm measures memory bandwidth with.

#include <memory>

#include "encore/device.h"
#include "encore/kernel.h"

namespace encore::llm {

inline constexpr const char* kNextTokenKernel = "llm_next_token_u32";
inline constexpr const char* kStreamReadKernel = "llm_stream_read_f32";

/// Adds both kernels to `registry`.
void register_llm_kernels(KernelRegistry& registry);

/// Makes sure the registry `device` resolves kernels from (its options' registry, or the
/// built-in one) has the llm kernels. Thread-safe; idempotent.
void ensure_llm_kernels(const Device& device);

}  // namespace encore::llm
