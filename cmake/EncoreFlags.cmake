# encore_build_flags: the warnings and sanitizer flags every encore target is built with.
#
# Link it as   target_link_libraries(<target> PRIVATE $<BUILD_INTERFACE:encore_build_flags>)
# The BUILD_INTERFACE wrapper keeps it out of the installed package: consumers never inherit our
# warnings, and install(EXPORT) does not ask for the target to be exported.
#
# Warnings (and -Werror) apply to C++ sources only ($<COMPILE_LANGUAGE:CXX>); .cu files are
# compiled with nvcc's defaults. Sanitizer flags apply to C++, to CUDA host code (-Xcompiler) and
# to every link.
include_guard(GLOBAL)

add_library(encore_build_flags INTERFACE)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_encore_warnings
    -Wall
    -Wextra
    -Wpedantic
    -Wshadow
    -Wnon-virtual-dtor
    -Wold-style-cast
    -Woverloaded-virtual
    -Wnull-dereference
    -Wimplicit-fallthrough
    # -Wextra's missing-field-initializers fires on designated initializers that leave a field
    # to its default (GCC 12 flags `DeviceOptions{.backend = BackendKind::Cpu}` for its
    # std::optional and std::shared_ptr fields), which is how every options struct of the API is
    # meant to be used.
    -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 (Debian 12's compiler) reports a bogus -Wrestrict overlap inside libstdc++'s
    # std::string at -O2/-O3 for `"literal" + std::string` (GCC PR 105329, fixed in GCC 13).
    list(APPEND _encore_warnings -Wno-restrict)
  endif()
  if(ENCORE_WARNINGS_AS_ERRORS)
    list(APPEND _encore_warnings -Werror)
  endif()
  target_compile_options(encore_build_flags INTERFACE
    "$<$<COMPILE_LANGUAGE:CXX>:${_encore_warnings}>")
elseif(MSVC)
  target_compile_options(encore_build_flags INTERFACE
    "$<$<COMPILE_LANGUAGE:CXX>:/W4;/permissive->"
    "$<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${ENCORE_WARNINGS_AS_ERRORS}>>:/WX>")
endif()

if(ENCORE_SANITIZER_LIST)
  # ENCORE_SANITIZER_LIST is validated in EncoreOptions.cmake (address/undefined/thread).
  list(JOIN ENCORE_SANITIZER_LIST "," _encore_sanitizers)
  set(_encore_sanitizer_cxx_flags "-fsanitize=${_encore_sanitizers}" -fno-omit-frame-pointer)
  if("undefined" IN_LIST ENCORE_SANITIZER_LIST)
    list(APPEND _encore_sanitizer_cxx_flags -fno-sanitize-recover=undefined)
  endif()
  # nvcc splits -Xcompiler arguments at commas, so each flag is passed on its own.
  set(_encore_sanitizer_cuda_flags)
  foreach(_encore_flag IN LISTS ENCORE_SANITIZER_LIST)
    list(APPEND _encore_sanitizer_cuda_flags "-Xcompiler=-fsanitize=${_encore_flag}")
  endforeach()
  list(APPEND _encore_sanitizer_cuda_flags -Xcompiler=-fno-omit-frame-pointer)
  if("undefined" IN_LIST ENCORE_SANITIZER_LIST)
    list(APPEND _encore_sanitizer_cuda_flags -Xcompiler=-fno-sanitize-recover=undefined)
  endif()

  target_compile_options(encore_build_flags INTERFACE
    "$<$<COMPILE_LANGUAGE:CXX>:${_encore_sanitizer_cxx_flags}>"
    "$<$<COMPILE_LANGUAGE:CUDA>:${_encore_sanitizer_cuda_flags}>")
  target_link_options(encore_build_flags INTERFACE
    "$<$<LINK_LANGUAGE:CXX>:-fsanitize=${_encore_sanitizers}>"
    "$<$<LINK_LANGUAGE:CUDA>:${_encore_sanitizer_cuda_flags}>")
  message(STATUS "encore: sanitizers ${_encore_sanitizers}")
endif()

# Link-time optimisation for Release: the encoder's hot path crosses several translation units
# (encoder -> command builder -> validation -> hazard tracker); measured 25% less host time per
# dispatch on the decode-like benchmark. Objects stay fat (machine code beside the LTO bytecode),
# so a project that links the installed static libraries without LTO still links -- provided
# each archive is on its link line once: GNU ld, reading a fat archive a second time (as CMake
# lists libencore and libencore_ops, which depend on each other), loads its members again and
# reports every symbol twice. Within this build every executable links with LTO, and CI tests
# the release-nolto preset, which links nothing with LTO.
if(ENCORE_ENABLE_LTO AND NOT ENCORE_SANITIZER_LIST)
  include(CheckIPOSupported)
  check_ipo_supported(RESULT _encore_ipo LANGUAGES CXX OUTPUT _encore_ipo_output)
  if(_encore_ipo)
    set(CMAKE_INTERPROCEDURAL_OPTIMIZATION_RELEASE ON)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(encore_build_flags INTERFACE
        "$<$<AND:$<CONFIG:Release>,$<COMPILE_LANGUAGE:CXX>>:-ffat-lto-objects>")
    endif()
  else()
    message(STATUS "encore: LTO not supported by this toolchain: ${_encore_ipo_output}")
  endif()
  unset(_encore_ipo)
  unset(_encore_ipo_output)
endif()

unset(_encore_warnings)
unset(_encore_sanitizers)
unset(_encore_sanitizer_cxx_flags)
unset(_encore_sanitizer_cuda_flags)
unset(_encore_flag)
