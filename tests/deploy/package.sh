#!/usr/bin/env bash
# The deb_package ctest fixture: builds what the packages install (cpack
# packs whatever is built) and runs cpack, writing BUILD_DIR/package/
# taala_VERSION_ARCH.deb and taala-dev_VERSION_ARCH.deb.
#   tests/deploy/package.sh BUILD_DIR
set -euo pipefail
build_dir=$(cd "${1:?usage: package.sh BUILD_DIR}" && pwd)
cmake --build "$build_dir" --target taala_package_inputs -j2
# cpack creates package/ itself, but only after the log redirection below
# needs it (a fresh build directory has none).
mkdir -p "$build_dir/package"
rm -f "$build_dir"/package/taala_*.deb "$build_dir"/package/taala-dev_*.deb
# Reproducible: the same binaries give the same .deb bytes (file and archive
# times from the last commit), so the image test's layers above the .deb
# stay cached and a warm run needs no package download.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$(dirname "$0")" log -1 --format=%ct 2>/dev/null || echo 0)
  export SOURCE_DATE_EPOCH
fi
cd "$build_dir"
cpack --config CPackConfig.cmake > "$build_dir/package/cpack.log" 2>&1 ||
  { cat "$build_dir/package/cpack.log"; exit 1; }
ls -l "$build_dir"/package/*.deb
