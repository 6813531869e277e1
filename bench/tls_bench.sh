#!/usr/bin/env bash
# tls_bench.sh: what TLS costs the unary path (issue 12; docs/benchmarks.md,
# "TLS (issue 12)").
#
# Uncontended Acquire+Release pairs/s (taala-bench --backends=taala) at
# --clients against real taalad daemons, one fresh daemon per (round,
# variant), the variants' order rotated by round:
#   plain: the default plaintext loopback listener;
#   tls:   --tls_cert/--tls_key (a server certificate from a CA made here
#          with openssl); the bench trusts the CA (--tls_ca);
#   mtls:  also --tls_client_ca: every bench connection presents a client
#          certificate (taala-bench --tls_cert/--tls_key) and is identified
#          by it.
# TLS costs at connection set-up (one handshake per client, outside the
# timed window: taala-bench connects before it starts the clock) and per
# message (record encryption). Prints medians and ratios to `plain`.
#
# Usage (from a built tree: scripts/build.sh taalad taala-bench):
#   bench/tls_bench.sh [--rounds=5] [--duration=5s] [--clients=64]
#                      [--durability=none]
#   TAALA_BUILD_DIR (default build) names the build.
set -euo pipefail

rounds=5 duration=5s clients=64 durability=none
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds=${arg#*=} ;;
    --duration=*) duration=${arg#*=} ;;
    --clients=*) clients=${arg#*=} ;;
    --durability=*) durability=${arg#*=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 64 ;;
  esac
done

cd "$(dirname "$0")/.."
build=$(realpath "${TAALA_BUILD_DIR:-build}")
taalad=$build/server/taalad bench=$build/bench/taala-bench
for b in "$taalad" "$bench"; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh taalad taala-bench" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taala-tls-bench.XXXXXX")
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && { kill -9 "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

# A CA, a server certificate for 127.0.0.1, a client certificate (CN bench).
(
  cd "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj /CN=taala-bench-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days 2 -extfile server.ext 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
    -subj /CN=bench 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out client.pem -days 2 2>/dev/null
)

start_daemon() {  # DIR LOG FLAGS...
  local dir=$1 out=$2
  shift 2
  rm -f "$tmp/port"
  "$taalad" --listen=127.0.0.1:0 --port_file="$tmp/port" --admin_listen= \
    --data_dir="$dir" --durability="$durability" "$@" >"$out" 2>&1 &
  daemon_pid=$!
  while [ ! -s "$tmp/port" ]; do
    kill -0 "$daemon_pid" 2>/dev/null || { echo "taalad exited:" >&2; cat "$out" >&2; exit 1; }
    sleep 0.01
  done
  port=$(cat "$tmp/port")
}
stop_daemon() { kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""; }
daemon_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$daemon_pid/stat"; }

variants=(plain tls mtls)
echo "tls_bench: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); --durability=$durability; $clients clients; $duration per run"
for ((r = 1; r <= rounds; r++)); do
  n=${#variants[@]} order=()
  for ((i = 0; i < n; i++)); do order+=("${variants[$(((i + r) % n))]}"); done
  for v in "${order[@]}"; do
    log "round $r/$rounds: $v"
    server_flags=() client_flags=()
    case $v in
      tls) server_flags=(--tls_cert="$tmp/server.pem" --tls_key="$tmp/server.key")
           client_flags=(--tls_ca="$tmp/ca.pem") ;;
      mtls) server_flags=(--tls_cert="$tmp/server.pem" --tls_key="$tmp/server.key"
                          --tls_client_ca="$tmp/ca.pem")
            client_flags=(--tls_ca="$tmp/ca.pem" --tls_cert="$tmp/client.pem"
                          --tls_key="$tmp/client.key") ;;
    esac
    start_daemon "$tmp/d-$v-$r" "$tmp/$v-$r.log" "${server_flags[@]}"
    cpu0=$(daemon_cpu)
    "$bench" --backends=taala --endpoint="127.0.0.1:$port" --clients="$clients" \
      --duration="$duration" --warmup=1s "${client_flags[@]}" \
      --json="$tmp/$v-$r.json" >/dev/null
    echo "$cpu0 $(daemon_cpu)" >"$tmp/cpu-$v-$r"
    stop_daemon
    rm -rf "$tmp/d-$v-$r"
  done
done
python3 - "$tmp" "$rounds" "${variants[@]}" <<'PY'
import json, statistics, sys
tmp, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
row = lambda v, r: json.load(open(f"{tmp}/{v}-{r}.json"))["rows"][0]
med = statistics.median
rs = range(1, rounds + 1)
pps = {v: [row(v, r)["pairs_per_sec"] for r in rs] for v in variants}
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
    ratios = [a / b for a, b in zip(pps[v], pps["plain"])]
    print(f"{v}/plain: {med(pps[v]) / med(pps['plain']):.3f} (medians); per round "
          f"{', '.join(f'{x:.3f}' for x in ratios)}; median of per-round ratios {med(ratios):.3f}")
errors = sum(row(v, r)["errors"] for v in variants for r in rs)
if errors: print(f"ERRORS {errors}")
PY
