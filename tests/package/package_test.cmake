# Registers CTest test `package.find_package` (labels cpu, install): installs this build into a
# scratch prefix, then builds and runs tests/package/consumer against it with find_package(encore).
#
# Include from tests/CMakeLists.txt, after src/ has been added:
#   include(${PROJECT_SOURCE_DIR}/tests/package/package_test.cmake)
# Not registered for sanitizer builds (the consumer is not sanitized) nor while src/ exports
# nothing (ENCORE_EXPORTED_TARGETS empty).
include_guard(GLOBAL)

get_property(_encore_package_targets GLOBAL PROPERTY ENCORE_EXPORTED_TARGETS)
find_program(ENCORE_BASH_PROGRAM bash)
mark_as_advanced(ENCORE_BASH_PROGRAM)

if(ENCORE_SANITIZER)
  message(STATUS "encore: sanitizer build, test package.find_package not registered")
elseif(NOT _encore_package_targets)
  message(STATUS "encore: ENCORE_EXPORTED_TARGETS is empty, test package.find_package not registered")
elseif(NOT ENCORE_BASH_PROGRAM)
  message(STATUS "encore: bash not found, test package.find_package not registered")
else()
  add_test(NAME package.find_package
           COMMAND "${ENCORE_BASH_PROGRAM}" "${CMAKE_CURRENT_LIST_DIR}/run_package_test.sh"
                   "${PROJECT_BINARY_DIR}" "${PROJECT_SOURCE_DIR}")
  set_tests_properties(package.find_package PROPERTIES
    LABELS "cpu;install"
    TIMEOUT 600)
endif()

unset(_encore_package_targets)
