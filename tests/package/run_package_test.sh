#!/usr/bin/env bash
# Installs an encore build into a scratch prefix, builds tests/package/consumer against it with
# find_package(encore), runs the consumer and checks that it prints "ok".
#
# usage: run_package_test.sh <encore-build-dir> [<encore-source-dir>]
#   <encore-source-dir> defaults to the repository this script lives in; the consumer project
#   may also be given directly (a directory with the consumer's CMakeLists.txt).
# The consumer is configured with the generator, make program, C++ compiler and build type of
# the encore build. ENCORE_KEEP_PACKAGE_TEST=1 keeps the scratch directory for inspection.
set -euo pipefail

die() { echo "package test: $*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 <encore-build-dir> [<encore-source-dir>]"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="$(cd "$1" && pwd)" || die "no build directory '$1'"
source_dir="${2:-${script_dir}/../..}"

if [[ -f "${source_dir}/tests/package/consumer/CMakeLists.txt" ]]; then
  consumer_dir="$(cd "${source_dir}/tests/package/consumer" && pwd)"
elif [[ -f "${source_dir}/CMakeLists.txt" && -f "${source_dir}/main.cpp" ]]; then
  consumer_dir="$(cd "${source_dir}" && pwd)"
else
  die "no consumer project under '${source_dir}' (expected tests/package/consumer/CMakeLists.txt)"
fi

cache="${build_dir}/CMakeCache.txt"
[[ -f "${cache}" ]] || die "'${build_dir}' is not a configured CMake build directory"
# cache_value NAME: the value of NAME in the encore build's CMakeCache.txt (empty when unset).
cache_value() { sed -n "s/^$1:[A-Za-z]*=//p" "${cache}" | head -n 1; }

generator="$(cache_value CMAKE_GENERATOR)"
make_program="$(cache_value CMAKE_MAKE_PROGRAM)"
cxx_compiler="$(cache_value CMAKE_CXX_COMPILER)"
build_type="$(cache_value CMAKE_BUILD_TYPE)"
configuration_types="$(cache_value CMAKE_CONFIGURATION_TYPES)"
cuda_compiler="$(cache_value CMAKE_CUDA_COMPILER)"
sanitizer="$(cache_value ENCORE_SANITIZER)"

work="$(mktemp -d "${TMPDIR:-/tmp}/encore-package-test.XXXXXX")"
if [[ "${ENCORE_KEEP_PACKAGE_TEST:-0}" == "1" ]]; then
  echo "package test: keeping ${work}"
else
  trap 'rm -rf "${work}"' EXIT
fi
prefix="${work}/prefix"
consumer_build="${work}/consumer-build"

config_args=()
if [[ -n "${configuration_types}" ]]; then
  config_args=(--config "${build_type:-Release}")
fi

echo "== install ${build_dir} -> ${prefix}"
cmake --install "${build_dir}" --prefix "${prefix}" "${config_args[@]}" >"${work}/install.log" 2>&1 ||
  { cat "${work}/install.log" >&2; die "cmake --install failed"; }

configure_args=(-S "${consumer_dir}" -B "${consumer_build}" -G "${generator}"
                "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${cxx_compiler}")
[[ -n "${make_program}" ]] && configure_args+=("-DCMAKE_MAKE_PROGRAM=${make_program}")
[[ -n "${build_type}" && -z "${configuration_types}" ]] &&
  configure_args+=("-DCMAKE_BUILD_TYPE=${build_type}")
# find_dependency(CUDAToolkit) in encoreConfig.cmake looks for the toolkit of the encore build.
if [[ -n "${cuda_compiler}" && "${cuda_compiler}" != *NOTFOUND ]]; then
  configure_args+=("-DCUDAToolkit_ROOT=$(dirname "$(dirname "${cuda_compiler}")")")
fi
# Sanitized static libraries need the sanitizer runtime at link time (manual runs only: CTest
# registers this test for unsanitized builds).
if [[ -n "${sanitizer}" ]]; then
  configure_args+=("-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${sanitizer//;/,}")
fi

echo "== configure consumer (${generator}, ${cxx_compiler}, ${build_type:-default})"
cmake "${configure_args[@]}" >"${work}/configure.log" 2>&1 ||
  { cat "${work}/configure.log" >&2; die "configuring the consumer failed"; }

echo "== build consumer"
cmake --build "${consumer_build}" "${config_args[@]}" >"${work}/build.log" 2>&1 ||
  { cat "${work}/build.log" >&2; die "building the consumer failed"; }

consumer="$(find "${consumer_build}" -type f -name encore_package_consumer -perm -u+x | head -n 1)"
[[ -n "${consumer}" ]] || die "the consumer executable was not built"

echo "== run consumer"
output="$("${consumer}")" || die "the consumer exited with status $? (output: '${output:-}')"
[[ "${output}" == "ok" ]] || die "the consumer printed '${output}', expected 'ok'"
echo "package test: ok"
