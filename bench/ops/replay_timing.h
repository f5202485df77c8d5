#pragma once

// What the op micro-benchmarks share: how many calls a recording holds, and how a recording of
// them is timed on the device.

#include <cstdint>
#include <vector>

#include "encore/device.h"
#include "encore/recording.h"

namespace encore::bench {

/// The median of `v` (the upper one of an even count).
double median(std::vector<double> v);

/// At least `min_calls` calls, and a multiple of `copies` (every copy in rotation equally).
std::uint32_t calls_for(std::uint32_t copies, std::uint32_t min_calls);

/// Two untimed submissions of `rec` (graph instantiation, clocks), then the median over
/// `replays` submissions of Submission::time() divided by `calls`, in microseconds.
double median_us_per_call(Device& device, const Recording& rec, std::uint32_t calls, int replays);

}  // namespace encore::bench
