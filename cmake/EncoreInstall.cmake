# Installs the public headers and the exported libraries as the CMake package `encore`:
#
#   find_package(encore 0.1 CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE encore::encore)
#
# The libraries come from the global property ENCORE_EXPORTED_TARGETS, which src/ fills:
#   set_property(GLOBAL APPEND PROPERTY ENCORE_EXPORTED_TARGETS encore_core encore_ir ... encore)
# Everything an exported static library links (even PRIVATE) must itself be exported or be
# wrapped in $<BUILD_INTERFACE:...>; imported targets (Threads::Threads, CUDA::cudart) are found
# again by encoreConfig.cmake.
include_guard(GLOBAL)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ENCORE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/encore"
    CACHE STRING "Where encoreConfig.cmake is installed, relative to the prefix")
mark_as_advanced(ENCORE_INSTALL_CMAKEDIR)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/encore"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT encore_development
        FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

get_property(_encore_exported_targets GLOBAL PROPERTY ENCORE_EXPORTED_TARGETS)
list(REMOVE_DUPLICATES _encore_exported_targets)

if(NOT _encore_exported_targets)
  message(STATUS "encore: ENCORE_EXPORTED_TARGETS is empty; installing headers only, no package")
  return()
endif()

foreach(_encore_target IN LISTS _encore_exported_targets)
  if(NOT TARGET ${_encore_target})
    message(FATAL_ERROR "ENCORE_EXPORTED_TARGETS names '${_encore_target}', which is not a target")
  endif()
endforeach()
if(TARGET encore AND "encore" IN_LIST _encore_exported_targets)
  # Consumers write encore::encore.
  set_target_properties(encore PROPERTIES EXPORT_NAME encore)
else()
  message(WARNING "encore: the aggregate target 'encore' is not in ENCORE_EXPORTED_TARGETS; "
                  "consumers will have no encore::encore")
endif()

install(TARGETS ${_encore_exported_targets}
        EXPORT encoreTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT encore_development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT encore_runtime
                NAMELINK_COMPONENT encore_development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT encore_runtime
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(EXPORT encoreTargets
        NAMESPACE encore::
        FILE encoreTargets.cmake
        DESTINATION "${ENCORE_INSTALL_CMAKEDIR}"
        COMPONENT encore_development)

# Read by encoreConfig.cmake.in: whether the installed libraries need the CUDA toolkit.
if(ENCORE_CUDA_ENABLED)
  set(ENCORE_PACKAGE_WITH_CUDA ON)
else()
  set(ENCORE_PACKAGE_WITH_CUDA OFF)
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/encoreConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/encoreConfig.cmake"
  INSTALL_DESTINATION "${ENCORE_INSTALL_CMAKEDIR}"
  NO_SET_AND_CHECK_MACRO)

write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/encoreConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
          "${PROJECT_BINARY_DIR}/encoreConfig.cmake"
          "${PROJECT_BINARY_DIR}/encoreConfigVersion.cmake"
        DESTINATION "${ENCORE_INSTALL_CMAKEDIR}"
        COMPONENT encore_development)

unset(_encore_exported_targets)
unset(_encore_target)
