#!/usr/bin/env bash
# Configures and builds taala into ${TAALA_BUILD_DIR:-build} with clang, Ninja
# and -Wthread-safety -Werror (Abseil's lock annotations are checked only by
# clang). Used by both README commands.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TAALA_BUILD_DIR:-build}
build_type=${TAALA_BUILD_TYPE:-RelWithDebInfo}
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$build_dir/build.ninja" ]; then
  CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE="$build_type" -DTAALA_WERROR=ON "${launcher[@]}" "$@"
fi
cmake --build "$build_dir"
