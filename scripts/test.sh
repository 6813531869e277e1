#!/usr/bin/env bash
# Installs what is missing, builds (clang, -Wthread-safety -Werror) and runs
# the whole test suite: unit tests and end-to-end tests against a real taalad.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir "${TAALA_BUILD_DIR:-build}" --output-on-failure --timeout 600 -j2
