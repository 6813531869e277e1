#!/usr/bin/env bash
# Quick start: install what is missing, build, and run taalad in the
# foreground with the embedded default (in-memory state, ./taala-data).
# Extra arguments are passed to taalad, e.g. --listen=127.0.0.1:7070.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh taalad
exec "${TAALA_BUILD_DIR:-build}/server/taalad" "$@"
