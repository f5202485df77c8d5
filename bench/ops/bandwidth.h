#pragma once

// The device's measured read bandwidth: a streaming read of a large buffer, the yardstick the
// gemv rows are compared with (the issue asks for >= 90% of it on large shapes).

#include <cstdint>

namespace encore::bench {

/// Best read bandwidth in GB/s (1e9 bytes/s) over `repetitions` timed passes over a buffer of
/// `bytes` (16-byte loads that bypass L1, several in flight per thread). Throws encore::Error
/// on a CUDA failure.
double measure_read_bandwidth_gbs(std::uint64_t bytes, int repetitions);

/// The device's L2 size in bytes.
std::uint64_t l2_cache_bytes();

}  // namespace encore::bench
