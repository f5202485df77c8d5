#pragma once

/// \file
/// Roofline accounting of a decode step: the bytes it must move at least, and the memory
/// bandwidth the device actually reaches, measured in the same process with a streaming read.
/// A step cannot be faster than bytes / bandwidth; the ratio of the measured step time to that
/// bound says how close to the hardware the step runs (1.0 is the roofline).

#include <cstdint>

#include "encore/device.h"

#include "llm/config.h"

namespace encore::llm {

/// Bytes one decode step moves at least, by kind.
struct StepBytes {
  /// Every weight byte read once: embedding row, norms, biases, every matrix, and the lm_head
  /// (the embedding table again when tied: the step reads all of it).
  std::uint64_t weights = 0;
  /// K and V rows [0, kv_len) of every layer read by attention, plus the row appended.
  std::uint64_t kv_cache = 0;
  /// f32 activations each op reads and writes (small next to the weights).
  std::uint64_t activations = 0;

  std::uint64_t total() const { return weights + kv_cache + activations; }
};

/// The bytes of one step at KV length `kv_len` (the position's rows included).
StepBytes step_bytes(const ModelConfig& config, std::uint32_t kv_len);

struct Bandwidth {
  double bytes_per_second = 0;
  std::uint64_t buffer_bytes = 0;  ///< bytes read per pass
  double seconds_per_pass = 0;     ///< median over the passes
  bool device_timed = false;       ///< from the backend's device timer (else host wall time)
};

/// Streams a `buffer_bytes` buffer (rounded down to 16 bytes; choose it much larger than the
/// last-level cache) through llm_stream_read_f32 `passes` times after one warm-up pass and
/// reports the median rate. Throws Error(InvalidArgument) for fewer than 1 pass or a buffer
/// under 1 MiB.
Bandwidth measure_read_bandwidth(Device& device, std::uint64_t buffer_bytes, int passes = 10);

}  // namespace encore::llm
