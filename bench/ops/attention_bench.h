#pragma once

// The decode-attention micro-benchmark: many attention_decode dispatches back to back inside
// one recording (each one waits for the previous through the shared scratch, as the layers of
// a decode step do), on rotating K/V caches whose total exceeds L2, so every call streams its
// rows from memory. Timed on the device, per call, for the decode shapes at several context
// lengths.

#include <cstdint>
#include <string>
#include <vector>

#include "encore/device.h"
#include "encore/ops.h"

namespace encore::bench {

struct AttentionCase {
  std::string name;  ///< e.g. "llama-1b"
  ops::AttentionShape shape;
};

/// Llama-3.2-1B (32 q heads, 8 kv heads) and Qwen2.5-0.5B (14, 2), head_dim 64.
std::vector<AttentionCase> decode_attention_cases();

/// The context lengths timed.
std::vector<std::uint32_t> attention_kv_lengths();

struct AttentionTiming {
  std::uint32_t kv_len = 0;
  std::uint32_t copies = 0;  ///< K/V cache pairs in rotation
  std::uint32_t calls = 0;   ///< dispatches per replay
  double us_per_call = 0;    ///< median over replays
  double kv_gbs = 0;         ///< K and V bytes read per call over the time
};

/// One recording of the case at `kv_len` (caches of exactly kv_len rows), replayed `replays`
/// times; enough cache copies to exceed `rotation_bytes` together (at most 512), and at least
/// `min_calls` calls.
AttentionTiming time_attention(Device& device, const AttentionCase& c, std::uint32_t kv_len,
                               std::uint64_t rotation_bytes, std::uint32_t min_calls, int replays);

}  // namespace encore::bench
