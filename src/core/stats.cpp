#include <string>

#include "core/stats_counters.h"

namespace encore {

std::string Stats::to_string() const {
  std::string out;
#define ENCORE_PRINT_COUNTER(name) \
  out += #name;                    \
  out += ' ';                      \
  out += std::to_string(name);     \
  out += '\n';
  ENCORE_ALL_COUNTERS(ENCORE_PRINT_COUNTER)
#undef ENCORE_PRINT_COUNTER
  return out;
}

namespace detail {

void StatsCounters::add_encoder_counts(const EncoderCounts& c) noexcept {
  add(dispatches_encoded, c.dispatches);
  add(barriers_explicit, c.barriers_explicit);
  add(barriers_inferred, c.barriers_inferred);
  add(dispatches_concurrent, c.dispatches_concurrent);
  add(edges_inferred, c.edges_inferred);
  add(edges_pruned, c.edges_pruned);
}

Stats StatsCounters::snapshot() const noexcept {
  Stats s;
#define ENCORE_SNAPSHOT_COUNTER(name) s.name = name.load(std::memory_order_relaxed);
  ENCORE_ALL_COUNTERS(ENCORE_SNAPSHOT_COUNTER)
#undef ENCORE_SNAPSHOT_COUNTER
  return s;
}

void StatsCounters::reset() noexcept {
#define ENCORE_RESET_COUNTER(name) name.store(0, std::memory_order_relaxed);
  ENCORE_RESETTABLE_COUNTERS(ENCORE_RESET_COUNTER)
#undef ENCORE_RESET_COUNTER
}

}  // namespace detail
}  // namespace encore
