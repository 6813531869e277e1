#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds examples/consumer
# against it with find_package(taala), and runs it against a real taalad.
#   example_consumer_test.sh BUILD_DIR SOURCE_DIR TAALAD [SANITIZER]
# SANITIZER (the build's TAALA_SANITIZER): the installed libraries are
# instrumented, so the consumer is linked with the same runtime.
set -euo pipefail
build_dir=$1 source_dir=$2 taalad=$3 sanitizer=${4:-}
san_flags=()
if [ -n "$sanitizer" ]; then
  san_flags=(-DCMAKE_CXX_FLAGS="-fsanitize=$sanitizer"
             -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$sanitizer")
fi
work=$(mktemp -d)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source_dir/examples/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${san_flags[@]}" > "$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer" > "$work/build.log" 2>&1 \
  || { cat "$work/build.log"; exit 1; }

"$taalad" --listen=127.0.0.1:0 --port_file="$work/port" --data_dir="$work/data" \
  --admin_listen=127.0.0.1:0 --drain_timeout=200ms > "$work/taalad.log" 2>&1 &
daemon=$!
for _ in $(seq 1 2000); do [ -s "$work/port" ] && break; sleep 0.01; done
[ -s "$work/port" ] || { echo "taalad did not start"; cat "$work/taalad.log"; exit 1; }

out=$("$work/consumer/consumer" "127.0.0.1:$(cat "$work/port")")
echo "$out"
echo "$out" | grep -Eq '^holding accounts/alice token=[1-9][0-9]* accounts/bob token=[1-9][0-9]*$' \
  || { echo "FAIL: unexpected output"; exit 1; }
echo "$out" | grep -q '^released$' || { echo "FAIL: not released"; exit 1; }
echo "example consumer OK"
