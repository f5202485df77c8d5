# Third-party packages, all from Debian (scripts/bootstrap installs them). Nothing is vendored or
# downloaded at configure time.
#
# Imported targets available to src/, tests/, bench/ and tools/:
#   Threads::Threads                                      always
#   GTest::gtest GTest::gtest_main GTest::gmock           ENCORE_BUILD_TESTS
#   rapidcheck rapidcheck_gtest                           ENCORE_BUILD_PROPERTY_TESTS
#     (Debian's rapidcheck config has no namespace. rapidcheck_gtest is an INTERFACE target that
#     links rapidcheck; link it and `#include <rapidcheck/gtest.h>` for RC_GTEST_PROP.)
#   gtest_discover_tests() / gtest_add_tests()            ENCORE_BUILD_TESTS (GoogleTest module)
#   benchmark::benchmark benchmark::benchmark_main        ENCORE_BUILD_BENCH
#   nlohmann_json::nlohmann_json                          always (header-only; the profile's JSON)
#   CLI11::CLI11                                          ENCORE_BUILD_TOOLS
#   CUDA::cudart CUDA::cuda_driver ...                    ENCORE_CUDA_ENABLED (FindCUDAToolkit)
include_guard(GLOBAL)

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

if(ENCORE_BUILD_TESTS)
  find_package(GTest REQUIRED)
  if(ENCORE_BUILD_PROPERTY_TESTS)
    find_package(rapidcheck REQUIRED)
    if(NOT TARGET rapidcheck_gtest)
      message(FATAL_ERROR "rapidcheck was found without its rapidcheck_gtest target; "
                          "install librapidcheck-dev (Debian) or a rapidcheck built with "
                          "RC_ENABLE_GTEST=ON, or configure with -DENCORE_BUILD_PROPERTY_TESTS=OFF")
    endif()
  endif()
  include(GoogleTest)
endif()

if(ENCORE_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# The profiler writes its Chrome trace and Stats::to_json with nlohmann-json, used header-only
# inside the library (never in public headers), so consumers of the package do not need it.
find_package(nlohmann_json REQUIRED)

if(ENCORE_BUILD_TOOLS)
  find_package(CLI11 CONFIG REQUIRED)
endif()

if(ENCORE_CUDA_ENABLED)
  find_package(CUDAToolkit REQUIRED)
endif()
