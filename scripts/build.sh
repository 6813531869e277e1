#!/usr/bin/env bash
# Configures and builds taala into ${TAALA_BUILD_DIR:-build} with clang, Ninja
# and -Wthread-safety -Werror (Abseil's lock annotations are checked only by
# clang). Used by both README commands.
#   scripts/build.sh [TARGET...]     build these targets (default: all)
# Extra CMake cache options for a fresh build dir: TAALA_CMAKE_ARGS, e.g.
#   TAALA_BUILD_DIR=build-asan TAALA_CMAKE_ARGS=-DTAALA_SANITIZER=address
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TAALA_BUILD_DIR:-build}
build_type=${TAALA_BUILD_TYPE:-RelWithDebInfo}
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$build_dir/build.ninja" ]; then
  # shellcheck disable=SC2086
  CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE="$build_type" -DTAALA_WERROR=ON "${launcher[@]}" \
    ${TAALA_CMAKE_ARGS:-}
fi
if [ $# -gt 0 ]; then
  cmake --build "$build_dir" --target "$@"
else
  cmake --build "$build_dir"
fi
