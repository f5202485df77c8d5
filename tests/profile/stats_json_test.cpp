// Stats::to_json: one JSON object with every counter of to_string() under its field name.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <string>

#include "encore/stats.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

// Each counter appears with its own value, and nothing else does.
TEST(StatsJson, HoldsEveryCounterByName) {
  Stats s;
  std::uint64_t next = 1000;
  for (const auto& [name, counter] : testing::named_counters(s)) *counter = next++;
  const nlohmann::json j = nlohmann::json::parse(s.to_json());
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), testing::named_counters(s).size());
  for (const auto& [name, counter] : testing::named_counters(s)) {
    ASSERT_TRUE(j.contains(name)) << name;
    EXPECT_EQ(j.at(name).get<std::uint64_t>(), *counter) << name;
  }
}

// Counters beyond 2^53 survive (JSON integers, not doubles).
TEST(StatsJson, KeepsLargeCountersExact) {
  Stats s;
  s.bytes_allocated = UINT64_MAX;
  const nlohmann::json j = nlohmann::json::parse(s.to_json());
  EXPECT_EQ(j.at("bytes_allocated").get<std::uint64_t>(), UINT64_MAX);
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore
