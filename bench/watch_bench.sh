#!/usr/bin/env bash
# watch_bench.sh: what Watch costs the lock table (issue 11;
# docs/benchmarks.md, "Watch (issue 11)").
#
# Uncontended Acquire+Release pairs/s (taala-bench --backends=taala) at
# --clients against real taalad daemons, one fresh daemon per (round,
# variant), the variants' order rotated by round:
#   none:      no watcher (the hub still keeps its history ring);
#   watch1:    one `taalactl watch "" --json` reading every event into
#              /dev/null (the pump, the writes and taalactl share the CPUs);
#   watch4:    four of them;
#   base:      only with --base_taalad=PATH: another build of taalad (say the
#              commit before the hub) with no watcher.
# Prints medians, ratios to `none` per round and of the medians, and the
# events each watcher printed (they must keep up: 2 per pair).
#
# Usage (from a built tree: scripts/build.sh taalad taalactl taala-bench):
#   bench/watch_bench.sh [--rounds=5] [--duration=5s] [--clients=64]
#                        [--durability=none] [--base_taalad=PATH]
#   TAALA_BUILD_DIR (default build) names the build.
set -euo pipefail

rounds=5 duration=5s clients=64 durability=none base=""
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds=${arg#*=} ;;
    --duration=*) duration=${arg#*=} ;;
    --clients=*) clients=${arg#*=} ;;
    --durability=*) durability=${arg#*=} ;;
    --base_taalad=*) base=$(realpath "${arg#*=}") ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 64 ;;
  esac
done

cd "$(dirname "$0")/.."
build=$(realpath "${TAALA_BUILD_DIR:-build}")
taalad=$build/server/taalad taalactl=$build/tools/taalactl
bench=$build/bench/taala-bench
for b in "$taalad" "$taalactl" "$bench" ${base:+"$base"}; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh taalad taalactl taala-bench" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taala-watch-bench.XXXXXX")
daemon_pid="" watcher_pids=""
cleanup() {
  for p in $watcher_pids $daemon_pid; do
    kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

start_daemon() {  # BINARY DIR LOG
  rm -f "$tmp/port"
  "$1" --listen=127.0.0.1:0 --port_file="$tmp/port" --admin_listen= \
    --data_dir="$2" --durability="$durability" >"$3" 2>&1 &
  daemon_pid=$!
  while [ ! -s "$tmp/port" ]; do
    kill -0 "$daemon_pid" 2>/dev/null || { echo "taalad exited:" >&2; cat "$3" >&2; exit 1; }
    sleep 0.01
  done
  port=$(cat "$tmp/port")
}
stop_daemon() { kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""; }
# The daemon's CPU seconds so far (user + system), from /proc.
daemon_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$daemon_pid/stat"; }
start_watchers() {  # N OUT
  for ((i = 0; i < $1; i++)); do
    "$taalactl" --endpoint="127.0.0.1:$port" watch "" --json >"$2.$i" 2>/dev/null &
    watcher_pids="$watcher_pids $!"
  done
  sleep 0.3
}
stop_watchers() {
  for p in $watcher_pids; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  watcher_pids=""
}

variants=(none watch1 watch4)
[ -n "$base" ] && variants+=(base)
echo "watch_bench: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); --durability=$durability; $clients clients; $duration per run${base:+; base $base}"
for ((r = 1; r <= rounds; r++)); do
  n=${#variants[@]} order=()
  for ((i = 0; i < n; i++)); do order+=("${variants[$(((i + r) % n))]}"); done
  for v in "${order[@]}"; do
    log "round $r/$rounds: $v"
    bin=$taalad
    [ "$v" = base ] && bin=$base
    start_daemon "$bin" "$tmp/d-$v-$r" "$tmp/$v-$r.log"
    case $v in watch1) start_watchers 1 "$tmp/w-$v-$r" ;; watch4) start_watchers 4 "$tmp/w-$v-$r" ;; esac
    cpu0=$(daemon_cpu)
    "$bench" --backends=taala --endpoint="127.0.0.1:$port" --clients="$clients" \
      --duration="$duration" --warmup=1s --json="$tmp/$v-$r.json" >/dev/null
    echo "$cpu0 $(daemon_cpu)" >"$tmp/cpu-$v-$r"
    sleep 0.5
    stop_watchers
    for f in "$tmp/w-$v-$r".*; do [ -e "$f" ] && wc -l <"$f" >>"$tmp/events-$v"; done
    stop_daemon
    rm -rf "$tmp/d-$v-$r" "$tmp/w-$v-$r".*
  done
done
python3 - "$tmp" "$rounds" "${variants[@]}" <<'PY'
import json, os, statistics, sys
tmp, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
row = lambda v, r: json.load(open(f"{tmp}/{v}-{r}.json"))["rows"][0]
med = statistics.median
rs = range(1, rounds + 1)
pps = {v: [row(v, r)["pairs_per_sec"] for r in rs] for v in variants}
# The daemon's CPU over warmup + run, per pair (the warmup's pairs counted
# at the run's rate).
def cpu_per_pair(v, r):
    a, b = map(float, open(f"{tmp}/cpu-{v}-{r}").read().split())
    j = json.load(open(f"{tmp}/{v}-{r}.json"))
    pairs = j["rows"][0]["pairs_per_sec"] * (j["duration_s"] + j["warmup_s"])
    return (b - a) * 1e6 / max(1.0, pairs)
print(f"{'variant':>8} {'pairs/s (median)':>17} {'p50 us':>7} {'p99 us':>7} {'daemon cpu us/pair':>19}  per round")
for v in variants:
    rows = [row(v, r) for r in rs]
    print(f"{v:>8} {med(pps[v]):>17.0f} {med([x['p50_us'] for x in rows]):>7.0f} "
          f"{med([x['p99_us'] for x in rows]):>7.0f} {med([cpu_per_pair(v, r) for r in rs]):>19.1f}"
          f"  {', '.join(f'{x:.0f}' for x in pps[v])}")
for v in variants[1:]:
    ratios = [a / b for a, b in zip(pps[v], pps["none"])]
    print(f"{v}/none: {med(pps[v]) / med(pps['none']):.3f} (medians); per round "
          f"{', '.join(f'{x:.3f}' for x in ratios)}; median of per-round ratios {med(ratios):.3f}")
for v in ("watch1", "watch4"):
    f = f"{tmp}/events-{v}"
    if os.path.exists(f):
        print(f"{v}: lines printed per watcher per run: {', '.join(open(f).read().split())}")
errors = sum(row(v, r)["errors"] for v in variants for r in rs)
if errors: print(f"ERRORS {errors}")
PY
