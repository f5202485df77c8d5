#pragma once

// The fixture of the backend-parameterised behaviour suites (tests/backends/common): every
// TEST_P runs on the backend of its parameter, on devices with the portable registry (the
// built-in kernels plus the portable test kernels, which have CPU and CUDA implementations).
// A backend that cannot be opened (Error BackendUnavailable) skips each test with the reason,
// which CTest reports as skipped, not passed.
//
// Each file ends with
//   ENCORE_INSTANTIATE_BACKEND_SUITE(SuiteName);
// which instantiates the suite for the CPU and the CUDA backend ("Cpu/..." and "Cuda/..."). The
// sources compile once, and each backend's test executable discovers only its own
// instantiations (tests/CMakeLists.txt). A suite is a class derived from BackendTest, named for
// what it tests.

#include <gtest/gtest.h>
#include <memory>
#include <ostream>
#include <string>

#include "encore/encore.h"

namespace encore {

/// Prints "cpu" / "cuda" where GoogleTest shows the parameter (found by ADL).
inline void PrintTo(BackendKind kind, std::ostream* os) { *os << to_string(kind); }

}  // namespace encore

namespace encore::testing {

class BackendTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  /// Opens a device of the backend once, and skips the test (GTEST_SKIP) when that fails with
  /// BackendUnavailable; any other error fails the test.
  void SetUp() override;

  BackendKind backend() const { return GetParam(); }

  /// A device of the parameter's backend with `options` (backend overridden; CPU devices get 4
  /// worker threads unless `options` asks otherwise), on `registry` or else on the portable
  /// registry. Options of the other backend (e.g. shuffle_seed on CUDA) are ignored by it.
  Device make_device(DeviceOptions options = {},
                     std::shared_ptr<KernelRegistry> registry = nullptr) const;
};

/// Names the instantiation's one test after the backend: ".../cpu", ".../cuda".
struct BackendName {
  std::string operator()(const ::testing::TestParamInfo<BackendKind>& info) const;
};

}  // namespace encore::testing

/// Instantiates `suite` for BackendKind::`backend`, with `backend` as the name prefix.
#define ENCORE_INSTANTIATE_BACKEND_SUITE_FOR(backend, suite)                                  \
  INSTANTIATE_TEST_SUITE_P(backend, suite, ::testing::Values(::encore::BackendKind::backend), \
                           ::encore::testing::BackendName{})

/// Instantiates `suite` for both backends.
#define ENCORE_INSTANTIATE_BACKEND_SUITE(suite)     \
  ENCORE_INSTANTIATE_BACKEND_SUITE_FOR(Cpu, suite); \
  ENCORE_INSTANTIATE_BACKEND_SUITE_FOR(Cuda, suite)
