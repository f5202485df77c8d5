# Build options of encore. Every option is prefixed ENCORE_; presets set them (CMakePresets.json).
#
#   ENCORE_ENABLE_CUDA         AUTO | ON | OFF (default AUTO). AUTO enables CUDA when a CUDA compiler
#                              is found; ON fails configure without one. The resolved boolean is
#                              ENCORE_CUDA_ENABLED (a normal variable, also exported to the package).
#   ENCORE_ENABLE_NCCL         ON | OFF (default ON). With CUDA: use NCCL for collectives on CUDA
#                              devices when nccl.h and libnccl are found (ENCORE_NCCL_ROOT or
#                              NCCL_HOME point at an install); without it encore still builds and
#                              refuses groups of CUDA devices. The result is ENCORE_NCCL_ENABLED.
#   ENCORE_SANITIZER           "" | "address;undefined" (or either alone) | "thread".
#   ENCORE_BUILD_TESTS/BENCH/TOOLS  ON by default when encore is the top-level project.
#   ENCORE_BUILD_PROPERTY_TESTS     ON with the tests; OFF skips rapidcheck and the property tests.
#   ENCORE_PROPERTY_CASES      1000: random cases of each property test (cpu-tsan runs 250).
#   ENCORE_TEST_UNITY_BUILD    0: test files per unity-build batch (0 off; the CI presets use 8).
#   ENCORE_TEST_CODE_OPT       "-O1" by default: the optimisation flag of the tests' own C++ code
#                              in Release builds (the library, tools and benchmarks keep -O3);
#                              empty keeps the build type's flags for the tests too.
#   ENCORE_TEST_DRIVER_CODE_OPT  "-O0" by default: the flag of test code that only drives the
#                              library (most of it), in Release builds and sanitizer builds; test
#                              code that computes keeps ENCORE_TEST_CODE_OPT (Release) or the
#                              preset's flags (sanitizers).
#   ENCORE_WARNINGS_AS_ERRORS  OFF by default; the CI presets turn it on.
#   ENCORE_USE_CCACHE          ON: use ccache as the C++/CUDA compiler launcher when found.
#   ENCORE_ENABLE_LTO          ON: link-time optimisation of C++ code in Release builds (when the
#                              toolchain supports it; static libraries keep fat objects).
include_guard(GLOBAL)

# ---- CUDA -------------------------------------------------------------------------------------
set(ENCORE_ENABLE_CUDA "AUTO" CACHE STRING "Build the CUDA backend: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE ENCORE_ENABLE_CUDA PROPERTY STRINGS AUTO ON OFF)

string(TOUPPER "${ENCORE_ENABLE_CUDA}" _encore_cuda_request)
if(_encore_cuda_request STREQUAL "AUTO")
  # Keep AUTO as is; every other spelling is read as a CMake boolean (ON/OFF/1/0/TRUE/FALSE...).
elseif(_encore_cuda_request MATCHES "^(ON|YES|TRUE|Y|1)$")
  set(_encore_cuda_request "ON")
elseif(_encore_cuda_request MATCHES "^(OFF|NO|FALSE|N|0|)$")
  set(_encore_cuda_request "OFF")
else()
  message(FATAL_ERROR "ENCORE_ENABLE_CUDA must be AUTO, ON or OFF (got '${ENCORE_ENABLE_CUDA}').")
endif()

set(ENCORE_CUDA_ENABLED OFF)
if(NOT _encore_cuda_request STREQUAL "OFF")
  # nvcc 13 dropped every architecture below sm_75, and encore targets Hopper first; set before
  # enable_language() so CMake does not pick its own default. CUDAARCHS (environment) still wins.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    set(CMAKE_CUDA_ARCHITECTURES "90" CACHE STRING "CUDA architectures to build device code for")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(ENCORE_CUDA_ENABLED ON)
    # Compile CUDA host code with the same compiler as the C++ sources (one ABI, one libstdc++).
    if(NOT CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX}
       AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}" CACHE FILEPATH "CUDA host compiler" FORCE)
    endif()
  elseif(_encore_cuda_request STREQUAL "ON")
    message(FATAL_ERROR
      "ENCORE_ENABLE_CUDA=ON but no working CUDA compiler was found.\n"
      "Put nvcc on PATH (e.g. /usr/local/cuda/bin), or pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc, "
      "or configure with -DENCORE_ENABLE_CUDA=AUTO (or OFF) to build without the CUDA backend. "
      "The failed check is logged in CMakeFiles/CMakeError.log.")
  else()
    message(STATUS "encore: no CUDA compiler found, building without the CUDA backend")
  endif()
endif()

if(ENCORE_CUDA_ENABLED)
  enable_language(CUDA)
  # CMake 3.25 knows no C++20 flag for nvcc although nvcc >= 12.0 accepts -std=c++20 (support in
  # CMake came later). Teach it, so CUDA_STANDARD 20 and cuda_std_20 work; newer CMake defines
  # the option itself and this block is skipped.
  if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION
     AND CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA"
     AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
  endif()
  if(DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA_STANDARD 20)
  else()
    # Public headers are C++20 (std::span, designated initializers), so .cu files that include
    # them need it; C++17 only works for .cu files that include nothing of encore.
    message(WARNING "encore: ${CMAKE_CUDA_COMPILER_ID} ${CMAKE_CUDA_COMPILER_VERSION} has no known "
                    "C++20 mode; compiling CUDA sources as C++17")
    set(CMAKE_CUDA_STANDARD 17)
  endif()
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_EXTENSIONS OFF)
  message(STATUS "encore: CUDA backend enabled (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${CMAKE_CUDA_ARCHITECTURES}, C++${CMAKE_CUDA_STANDARD})")
endif()

option(ENCORE_ENABLE_NCCL "Collectives on CUDA devices with NCCL, when NCCL is found" ON)

# A diagnostic build: every op kernel's blocks record when they start, when their programmatic
# wait returns and when they exit (src/ops/kernel_timeline.cuh; encore-llm --kernel-timeline).
option(ENCORE_KERNEL_TIMELINE "Per-block phase timestamps in the CUDA op kernels (diagnostics)" OFF)
if(ENCORE_KERNEL_TIMELINE AND NOT ENCORE_CUDA_ENABLED)
  message(FATAL_ERROR "ENCORE_KERNEL_TIMELINE needs the CUDA backend (ENCORE_ENABLE_CUDA)")
endif()

# ---- sanitizers -------------------------------------------------------------------------------
set(ENCORE_SANITIZER "" CACHE STRING
    "Sanitizers for every encore target: empty, 'address;undefined' (or one of them) or 'thread'")

# Accept "address,undefined" too; keep a clean, validated list in ENCORE_SANITIZER_LIST.
string(REPLACE "," ";" ENCORE_SANITIZER_LIST "${ENCORE_SANITIZER}")
list(TRANSFORM ENCORE_SANITIZER_LIST STRIP)
list(REMOVE_ITEM ENCORE_SANITIZER_LIST "")
list(REMOVE_DUPLICATES ENCORE_SANITIZER_LIST)
foreach(_encore_sanitizer IN LISTS ENCORE_SANITIZER_LIST)
  if(NOT _encore_sanitizer MATCHES "^(address|undefined|thread)$")
    message(FATAL_ERROR "ENCORE_SANITIZER: unknown sanitizer '${_encore_sanitizer}' "
                        "(expected address, undefined or thread)")
  endif()
endforeach()
if("thread" IN_LIST ENCORE_SANITIZER_LIST AND "address" IN_LIST ENCORE_SANITIZER_LIST)
  message(FATAL_ERROR "ENCORE_SANITIZER: thread and address cannot be combined")
endif()
if(ENCORE_SANITIZER_LIST AND NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  message(FATAL_ERROR "ENCORE_SANITIZER needs GCC or Clang (got ${CMAKE_CXX_COMPILER_ID})")
endif()

# ---- what to build ----------------------------------------------------------------------------
option(ENCORE_BUILD_TESTS "Build the tests (GoogleTest, rapidcheck)" ${encore_IS_TOP_LEVEL})
option(ENCORE_BUILD_BENCH "Build the benchmarks (Google Benchmark)" ${encore_IS_TOP_LEVEL})
option(ENCORE_BUILD_TOOLS "Build the tools (encore-demo; CLI11, nlohmann-json)" ${encore_IS_TOP_LEVEL})
include(CMakeDependentOption)
# The rapidcheck property tests are CPU tests; a GPU machine without rapidcheck turns them off
# (scripts/gpu-check does) and still builds every other test.
cmake_dependent_option(ENCORE_BUILD_PROPERTY_TESTS "Build the rapidcheck property tests" ON
                       "ENCORE_BUILD_TESTS" OFF)
set(ENCORE_PROPERTY_CASES "1000" CACHE STRING "Random cases of each rapidcheck property test")
if(NOT ENCORE_PROPERTY_CASES MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "ENCORE_PROPERTY_CASES: a positive number of cases, got "
                      "'${ENCORE_PROPERTY_CASES}'")
endif()
# A test file is a few hundred lines over the same few thousand of headers (GoogleTest, the API,
# the standard library): compiled eight at a time, the cold test build of the CI stages takes
# about half the compile time. Off by default, where rebuilding one test file should not
# rebuild seven others.
set(ENCORE_TEST_UNITY_BUILD "0" CACHE STRING
    "Compile the test executables as unity builds of this many files each (0: one at a time)")
if(NOT ENCORE_TEST_UNITY_BUILD MATCHES "^[0-9]+$")
  message(FATAL_ERROR "ENCORE_TEST_UNITY_BUILD: a number of files, got "
                      "'${ENCORE_TEST_UNITY_BUILD}'")
endif()
# Test sources are gtest macros and reference loops over small inputs: at -O3 they take about
# 45% of a cold Release build's compile time (CI has two cores); at -O1 they compile about 30%
# faster (four test sources, one at a time: 42.8 s at -O3, 29.5 s at -O1).
set(ENCORE_TEST_CODE_OPT "-O1" CACHE STRING
    "Optimisation flag of the tests' own C++ code in Release builds (empty: the build type's)")
# Most test code only calls the library and checks what it returns, and runs for microseconds:
# optimising it is compile time for nothing, most of all under a sanitizer, whose
# instrumentation the optimiser works through too (chrome_trace_test.cpp with ASan+UBSan, two
# compiles at a time on two cores: 34.8 s at -O1, 18.6 s at -O0; auto_ordering_test.cpp in
# Release: 10.6 s at -O1, 8.2 s at -O0). Test code that computes keeps ENCORE_TEST_CODE_OPT in
# Release builds and the preset's flags under a sanitizer (tests/CMakeLists.txt).
set(ENCORE_TEST_DRIVER_CODE_OPT "-O0" CACHE STRING
    "Optimisation flag of test code that only drives the library (empty: as the other tests')")
option(ENCORE_WARNINGS_AS_ERRORS "Turn compiler warnings into errors (CI presets turn it on)" OFF)

# ---- compiler launcher ------------------------------------------------------------------------
option(ENCORE_USE_CCACHE "Use ccache as the compiler launcher when it is found" ON)
option(ENCORE_ENABLE_LTO "Link-time optimisation of C++ code in Release builds" ON)
if(ENCORE_USE_CCACHE)
  find_program(ENCORE_CCACHE_PROGRAM NAMES ccache DOC "ccache, used as the compiler launcher")
  mark_as_advanced(ENCORE_CCACHE_PROGRAM)
  if(ENCORE_CCACHE_PROGRAM)
    foreach(_encore_lang IN ITEMS CXX CUDA)
      if(_encore_lang STREQUAL "CUDA" AND NOT ENCORE_CUDA_ENABLED)
        continue()
      endif()
      # An explicit launcher (cache, command line or the environment variable of the same name)
      # wins over ccache.
      if(NOT DEFINED CMAKE_${_encore_lang}_COMPILER_LAUNCHER
         AND NOT DEFINED ENV{CMAKE_${_encore_lang}_COMPILER_LAUNCHER})
        set(CMAKE_${_encore_lang}_COMPILER_LAUNCHER "${ENCORE_CCACHE_PROGRAM}")
      endif()
    endforeach()
  endif()
endif()

unset(_encore_cuda_request)
unset(_encore_sanitizer)
unset(_encore_lang)
