#pragma once

// Shared helpers for encore's tests: a kernel registry with the built-in kernels plus kernels
// that misbehave on purpose, CPU devices configured for tests, and float upload/download.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "encore/encore.h"

namespace encore::testing {

/// A latch kernels can block on, so a test can hold a submission in flight.
class Gate {
 public:
  void open();
  void wait();
  /// Blocks until `n` kernels are waiting at the gate (or have passed it).
  void wait_for_arrivals(int n);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
  int arrivals_ = 0;
};

/// Opens the gate when it goes out of scope, so a failing test never leaves a kernel blocked.
struct GateOpener {
  std::shared_ptr<Gate> gate;
  ~GateOpener() { gate->open(); }
};

/// Records how many dispatches ran at the same time.
struct ConcurrencyProbe {
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
};

/// The built-in kernels plus the portable test kernels (support/portable_kernels.h: fill_u32,
/// mix_u32, log_order, big_value, two_values, with CPU and CUDA implementations), plus these
/// CPU-only test kernels that misbehave or block on purpose:
///
/// | name              | params                         | behaviour                              |
/// |-------------------|--------------------------------|----------------------------------------|
/// | fail_kernel       | in x                           | throws encore::Error(KernelFailed)     |
/// | throw_std         | in x                           | throws std::runtime_error              |
/// | rogue_write       | in x, out y, value u32 n       | y = x, and also writes x[0] (undeclared)|
/// | write_past_view   | out y, value u32 n             | writes y[0..n] (one element too many)  |
/// | gate_kernel       | inout x                        | waits at `gate` (when given)           |
/// | probe_kernel      | inout x                        | sleeps 20 ms inside `probe` accounting |
std::shared_ptr<KernelRegistry> make_test_registry(
    std::shared_ptr<Gate> gate = nullptr, std::shared_ptr<ConcurrencyProbe> probe = nullptr);

/// The kernels every backend runs: the built-in kernels plus the portable test kernels.
std::shared_ptr<KernelRegistry> make_portable_registry();

/// A CPU device on the test registry. `threads` workers (default 4), other options as given.
Device make_cpu_device(DeviceOptions options = {},
                       std::shared_ptr<KernelRegistry> registry = nullptr);

Buffer upload_floats(Device& device, const std::vector<float>& values, std::string_view label = {});
std::vector<float> download_floats(const Buffer& buffer);

/// Every counter of `s` with its field name, in declaration order (pointers into `s`).
std::vector<std::pair<std::string, std::uint64_t*>> named_counters(Stats& s);
/// The values of named_counters(s), in the same order.
std::vector<std::uint64_t> all_counters(Stats s);

/// Success when `text` contains `part`; the failure shows both.
inline ::testing::AssertionResult mentions(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not mention \"" << part << "\"";
}

/// Runs `f`, which must throw encore::Error, and returns the error (a test failure otherwise).
template <class F>
Error error_from(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an encore::Error";
  return Error(ErrorCode::Internal, "nothing was thrown");
}

/// The largest |a[i] - b[i]| (a and b of one size), in double.
inline double max_abs_difference(std::span<const float> a, std::span<const float> b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return worst;
}

/// Launch covering n threads in blocks of 64.
inline Launch cover(std::uint32_t n) { return Launch::threads(n, 64); }

/// Activity that moves most counters: an auto_barrier command buffer that signals a fence, an
/// auto_dag recording (with a pruned edge) that waits on it, submitted once, and two recordings
/// optimised by reorder and minimize (nodes moved, a barrier and an edge removed; nothing
/// fused). Buffers hold 4 floats each.
void run_counter_workout(Device& dev, const Buffer& a, const Buffer& b, const Buffer& c,
                         const Buffer& d);

/// The seed's standard program: c = a + b over [1,2,3,4] and [5,6,7,8].
struct AddProgram {
  Buffer a;
  Buffer b;
  Buffer c;
  Kernel add;
};
inline const std::vector<float> kAddSum = {6, 8, 10, 12};
AddProgram make_add_program(Device& dev);
/// Records c = a + b.
void dispatch_add(Encoder& enc, const AddProgram& p);

}  // namespace encore::testing
