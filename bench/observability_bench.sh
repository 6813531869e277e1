#!/usr/bin/env bash
# observability_bench.sh: what statistics and a /metrics scraper cost on the
# hot path (issue 10; docs/benchmarks.md, "Observability (issue 10)").
#
# Uncontended Acquire+Release pairs/s (taala-bench --backends=taala) at
# --clients, against three real taalad daemons in one run:
#   on:     --stats=true, with a client fetching /metrics every --scrape_ms
#           (one http.client connection object; the listener closes a
#           connection after each request, so it reconnects each time; the
#           scraper runs on the same machine and its CPU counts too);
#   quiet:  --stats=true, nobody scraping (the statistics alone);
#   off:    --stats=false, nobody scraping.
# One fresh daemon per (round, variant), the variants' order alternated by
# round; prints medians, the ratio on/off per round and of the medians, the
# scrapes done and the bytes of one /metrics page.
#
# Usage (from a built tree: scripts/build.sh taalad taala-bench):
#   bench/observability_bench.sh [--rounds=5] [--duration=5s] [--clients=64]
#                                [--durability=none] [--scrape_ms=100]
#   TAALA_BUILD_DIR (default build) names the build.
set -euo pipefail

rounds=5 duration=5s clients=64 durability=none scrape_ms=100
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds=${arg#*=} ;;
    --duration=*) duration=${arg#*=} ;;
    --clients=*) clients=${arg#*=} ;;
    --durability=*) durability=${arg#*=} ;;
    --scrape_ms=*) scrape_ms=${arg#*=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 64 ;;
  esac
done

cd "$(dirname "$0")/.."
build=$(realpath "${TAALA_BUILD_DIR:-build}")
taalad=$build/server/taalad
bench=$build/bench/taala-bench
for b in "$taalad" "$bench"; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh taalad taala-bench" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taala-obs-bench.XXXXXX")
daemon_pid="" scraper_pid=""
cleanup() {
  for p in $scraper_pid $daemon_pid; do
    kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

start_daemon() {  # VARIANT DIR LOG
  rm -f "$tmp/port" "$tmp/admin_port"
  local stats=false
  [ "$1" != off ] && stats=true
  "$taalad" --listen=127.0.0.1:0 --port_file="$tmp/port" \
    --admin_listen=127.0.0.1:0 --admin_port_file="$tmp/admin_port" \
    --data_dir="$2" --durability="$durability" --stats="$stats" >"$3" 2>&1 &
  daemon_pid=$!
  while [ ! -s "$tmp/port" ] || [ ! -s "$tmp/admin_port" ]; do
    kill -0 "$daemon_pid" 2>/dev/null || { echo "taalad exited:" >&2; cat "$3" >&2; exit 1; }
    sleep 0.01
  done
  port=$(cat "$tmp/port") admin_port=$(cat "$tmp/admin_port")
}
stop_daemon() { kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""; }

# Fetches /metrics every scrape_ms until killed; on exit writes
# "scrapes bytes_of_last_page" to $1.
start_scraper() {
  python3 - "$admin_port" "$scrape_ms" "$1" <<'PY' &
import http.client, signal, sys, time
port, period, out = sys.argv[1], int(sys.argv[2]) / 1000, sys.argv[3]
n, size = 0, 0
def done(*_):
    open(out, "w").write(f"{n} {size}\n"); sys.exit(0)
signal.signal(signal.SIGTERM, done)
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
while True:
    t = time.monotonic()
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, resp.status
    n, size = n + 1, len(body)
    time.sleep(max(0.0, period - (time.monotonic() - t)))
PY
  scraper_pid=$!
}
stop_scraper() { kill -TERM "$scraper_pid"; wait "$scraper_pid" || true; scraper_pid=""; }

echo "observability_bench: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); --durability=$durability; $clients clients; $duration per run; /metrics every ${scrape_ms} ms"
for ((r = 1; r <= rounds; r++)); do
  case $((r % 3)) in
    1) order=(on quiet off) ;; 2) order=(quiet off on) ;; *) order=(off on quiet) ;;
  esac
  for v in "${order[@]}"; do
    log "round $r/$rounds: stats $v"
    start_daemon "$v" "$tmp/d-$v-$r" "$tmp/$v-$r.log"
    [ "$v" = on ] && start_scraper "$tmp/scrape-$r"
    "$bench" --backends=taala --endpoint="127.0.0.1:$port" --clients="$clients" \
      --duration="$duration" --warmup=1s --json="$tmp/$v-$r.json" >/dev/null
    [ "$v" = on ] && stop_scraper
    stop_daemon
    rm -rf "$tmp/d-$v-$r"
  done
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
row = lambda v, r: json.load(open(f"{tmp}/{v}-{r}.json"))["rows"][0]
med = statistics.median
rs = range(1, rounds + 1)
pps = {v: [row(v, r)["pairs_per_sec"] for r in rs] for v in ("on", "quiet", "off")}
scrapes = [open(f"{tmp}/scrape-{r}").read().split() for r in rs]
errors = sum(row(v, r)["errors"] for v in pps for r in rs)
print(f"{'variant':>30} {'pairs/s (median)':>17} {'p50 us':>7} {'p99 us':>7}  per round")
for name, v in (("stats on + /metrics scraper", "on"), ("stats on, no scraper", "quiet"),
                ("stats off", "off")):
    rows = [row(v, r) for r in rs]
    print(f"{name:>30} {med(pps[v]):>17.0f} {med([x['p50_us'] for x in rows]):>7.0f} "
          f"{med([x['p99_us'] for x in rows]):>7.0f}  {', '.join(f'{x:.0f}' for x in pps[v])}")
for v, name in (("on", "on+scraper/off"), ("quiet", "on/off (no scraper)")):
    ratios = [a / b for a, b in zip(pps[v], pps["off"])]
    print(f"{name}: {med(pps[v]) / med(pps['off']):.3f} (medians); per round "
          f"{', '.join(f'{x:.3f}' for x in ratios)}; median of per-round ratios {med(ratios):.3f}")
print(f"scrapes per run: {', '.join(s[0] for s in scrapes)}; /metrics page {scrapes[-1][1]} bytes"
      + (f"; ERRORS {errors}" if errors else ""))
PY
