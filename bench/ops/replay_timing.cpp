#include "replay_timing.h"

#include <algorithm>
#include <chrono>

#include "encore/submission.h"

namespace encore::bench {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::uint32_t calls_for(std::uint32_t copies, std::uint32_t min_calls) {
  return std::max(copies, (min_calls + copies - 1) / copies * copies);
}

double median_us_per_call(Device& device, const Recording& rec, std::uint32_t calls, int replays) {
  for (int i = 0; i < 2; ++i) device.submit(rec).wait();
  std::vector<double> us;
  for (int r = 0; r < replays; ++r) {
    const Submission s = device.submit(rec);
    s.wait();
    us.push_back(std::chrono::duration<double, std::micro>(s.time()).count() / calls);
  }
  return median(us);
}

}  // namespace encore::bench
