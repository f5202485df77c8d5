// Stats::to_json: the counters as one JSON object, in the order of Stats::to_string (the
// X-macro of core/stats_counters.h lists them once for both).

#include <nlohmann/json.hpp>
#include <string>

#include "encore/stats.h"

#include "core/stats_counters.h"

namespace encore {

std::string Stats::to_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
#define ENCORE_JSON_COUNTER(name) j[#name] = name;
  ENCORE_ALL_COUNTERS(ENCORE_JSON_COUNTER)
#undef ENCORE_JSON_COUNTER
  return j.dump(2);
}

}  // namespace encore
