#!/usr/bin/env bash
# What a waiting Acquire costs (issue 12, docs/benchmarks.md "Waiter
# memory"): the lock table's share without gRPC (waiter_memory_core), then
# N waiting Acquires over gRPC against a real taalad (waiter-memory-client)
# with the daemon's RSS before, while waiting, and every second for 10 s
# after they are all cancelled.
#   bench/waiter_memory.sh [N=50000] [KEYS=100] [CONNECTIONS=8]
# TAALAD=path compares another build (say main's, before the monitor).
# Past 10,000 waiters per key or identity, pass the limit flags in
# TAALAD_ARGS (e.g. --max_waiters_per_key=...) once they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
keys=${2:-100}
conns=${3:-8}
build=${TAALA_BUILD_DIR:-build}
taalad=${TAALAD:-$build/server/taalad}
client=$build/bench/waiter-memory-client
core=$build/bench/waiter_memory_core

echo "== the table alone"
"$core" "$n" "$keys"

dir=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck disable=SC2086
"$taalad" --listen=127.0.0.1:0 --port_file="$dir/port" --data_dir="$dir/data" \
  --admin_listen= ${TAALAD_ARGS:-} >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$pid/status"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }

echo "== over gRPC: $taalad"
mkfifo "$dir/in"
"$client" "127.0.0.1:$port" "$n" "$keys" "$conns" <"$dir/in" >"$dir/out" &
cpid=$!
exec 3>"$dir/in"
until grep -q SESSIONS "$dir/out"; do sleep 0.2; done
sleep 1
before=$(rss)
echo "RSS with $n sessions, before the waits: $(mib "$before")"
echo >&3
start=$(date +%s.%N)
until grep -q WAITING "$dir/out"; do sleep 0.2; done
ready=$(date +%s.%N)
sleep 1
waiting=$(rss)
echo "RSS with $n waiters: $(mib "$waiting") (queued in" \
  "$(awk -v a="$start" -v b="$ready" 'BEGIN {printf "%.1f s", b - a}'))"
echo "per waiter over gRPC: $(( (waiting - before) / n )) bytes"
echo >&3
until grep -q CANCELLED "$dir/out"; do sleep 0.1; done
for s in 0 1 2 3 4 5 6 7 8 9 10; do
  now=$(rss)
  echo "t+${s}s after cancelling: RSS $(mib "$now")" \
    "($(mib $((now - before))) above before)"
  sleep 1
done
echo >&3
wait "$cpid" || true
cpid=
sleep 2
now=$(rss)
echo "client gone (its connections closed): RSS $(mib "$now")" \
  "($(mib $((now - before))) above before)," \
  "$(awk '/^Threads/ {print $2}' "/proc/$pid/status") threads"
if [ -n "${WAITER_MEMORY_SMAPS:-}" ]; then
  # The largest resident mappings (heap, arenas, thread stacks).
  awk '/^[0-9a-f]+-[0-9a-f]+ / {m=$0} /^Rss:/ {print $2, m}' \
    "/proc/$pid/smaps" | sort -rn | head -12
fi
