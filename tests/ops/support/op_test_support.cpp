#include "support/op_test_support.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

namespace encore::testing {

Device make_ops_cpu_device() {
  DeviceOptions options;
  options.backend = BackendKind::Cpu;
  options.cpu_threads = 4;
  options.validate = true;
  return Device::open(options);
}

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo, float hi) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<std::uint16_t> random_bf16(std::size_t n, std::uint64_t seed, float scale) {
  std::vector<float> f = random_floats(n, seed, -scale, scale);
  std::vector<std::uint16_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = nearest_bf16(f[i]);
  return out;
}

AttentionInputs attention_inputs(const ops::AttentionShape& shape, std::uint64_t q_seed,
                                 std::uint64_t kv_seed) {
  const std::size_t cache = std::size_t{shape.max_ctx} * shape.n_kv_heads * shape.head_dim;
  return {random_floats(std::size_t{shape.n_heads} * shape.head_dim, q_seed, -2.0F, 2.0F),
          random_bf16(cache, kv_seed, 2.0F), random_bf16(cache, kv_seed + 1)};
}

float bf16_value(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// The two bf16 values around f (truncation and the next pattern away from zero); the nearer one
// wins, a tie goes to the even pattern.
std::uint16_t nearest_bf16(float f) {
  const auto down = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(f) >> 16);
  const auto up = static_cast<std::uint16_t>(down + 1);
  const double d_down = std::fabs(static_cast<double>(f) - bf16_value(down));
  const double d_up = std::fabs(static_cast<double>(f) - bf16_value(up));
  if (d_down < d_up) return down;
  if (d_up < d_down) return up;
  return (down & 1U) == 0 ? down : up;
}

::testing::AssertionResult all_near(std::span<const float> got, std::span<const float> want,
                                    Tolerance tol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: got " << got.size() << ", want " << want.size();
  }
  std::size_t bad = 0;
  std::size_t worst = 0;
  double worst_excess = -1.0;
  double max_abs = 0.0;
  double max_rel = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i];
    const double w = want[i];
    const double err = std::fabs(g - w);
    const double limit = tol.abs + tol.rel * std::fabs(w);
    max_abs = std::max(max_abs, err);
    if (w != 0.0) max_rel = std::max(max_rel, err / std::fabs(w));
    const bool ok = err <= limit && std::isfinite(g) == std::isfinite(w);
    if (!ok || std::isnan(err)) {
      ++bad;
      const double excess = std::isnan(err) ? 1e300 : err - limit;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements out of tolerance (abs " << tol.abs << ", rel "
         << tol.rel << "); worst: element " << worst << " got " << got[worst] << " want "
         << want[worst] << "; max abs error " << max_abs << ", max rel error " << max_rel;
}

::testing::AssertionResult all_identical(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: got " << got.size() << ", want " << want.size();
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure()
             << "element " << i << " differs: got " << got[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace encore::testing
