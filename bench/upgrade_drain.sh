#!/usr/bin/env bash
# An upgrade with a drain, measured from the clients' side (issue 13;
# docs/deploy.md, "Upgrading with a drain").
#
#   bench/upgrade_drain.sh [BUILD_DIR]
#
# Runs taalad in fsync mode on a fresh data directory, starts
# upgrade-drain-client (CLIENTS sessions, HOLDERS of them holding a key all
# along, every client looping try-lock Acquire + Release), then RESTARTS
# times: SIGTERM -> wait for exit -> start the "new" binary (a copy of taalad,
# alternating with the old one) on the same data directory and port -> wait
# for /readyz. Then it stops the clients and reports:
#   - per restart: stop (SIGTERM to exit), start (exec to /readyz 200), total;
#   - per client and restart: the seconds its calls failed with UNAVAILABLE
#     (from sending the first call that failed to the return of the first
#     that succeeded), min / median / max;
#   - whether every session survived (never lost, same id) and every held
#     key is still held by its session with the same fencing token.
# FILL_SESSIONS x FILL_KEYS extra sessions holding keys (durability-driver
# fill) make the state to drain, snapshot and recover bigger.
# Environment: CLIENTS (8), HOLDERS (4), RESTARTS (5), PAUSE_S (3, between
# restarts), MAX_ATTEMPTS (4, the library's default), FILL_SESSIONS (0),
# FILL_KEYS (10), GAP_S (0: seconds between the exit and the new start, as a
# pod rescheduled onto another node waits for its volume), OPEN_FOR (1s, the library's circuit breaker), DRAIN_TIMEOUT (2s), RESTART_GRACE (5s), TTL (10s),
# JSON (write the summary there too).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
taalad=$build/server/taalad
client=$build/bench/upgrade-drain-client
driver=$build/bench/durability-driver
for b in "$taalad" "$client"; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh taalad upgrade-drain-client" >&2; exit 1; }
done
CLIENTS=${CLIENTS:-8} HOLDERS=${HOLDERS:-4} RESTARTS=${RESTARTS:-5}
PAUSE_S=${PAUSE_S:-3} MAX_ATTEMPTS=${MAX_ATTEMPTS:-4} OPEN_FOR=${OPEN_FOR:-1s}
FILL_SESSIONS=${FILL_SESSIONS:-0} FILL_KEYS=${FILL_KEYS:-10}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-2s} RESTART_GRACE=${RESTART_GRACE:-5s}
TTL=${TTL:-10s} GAP_S=${GAP_S:-0}

work=$(mktemp -d /tmp/upgrade_drain.XXXXXX)
pid=
client_pid=
cleanup() {
  if [ -n "$client_pid" ]; then kill "$client_pid" 2>/dev/null || true; fi
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# The "old" and the "new" binary: two files, as in an upgrade.
cp "$taalad" "$work/taalad.old"
cp "$taalad" "$work/taalad.new"

now() { date +%s.%N; }
port=
admin=
start_taalad() {  # $1: binary; sets pid, port, admin
  rm -f "$work/port" "$work/admin_port"
  local p=${port:-0} a=${admin:-0}
  "$1" --listen="127.0.0.1:$p" --port_file="$work/port" \
    --admin_listen="127.0.0.1:$a" --admin_port_file="$work/admin_port" \
    --data_dir="$work/data" --durability=fsync \
    --drain_timeout="$DRAIN_TIMEOUT" --restart_grace="$RESTART_GRACE" \
    --log_format=json >>"$work/taalad.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    [ -s "$work/port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/taalad.log" >&2; exit 1; }
    sleep 0.01
  done
  port=$(cat "$work/port") admin=$(cat "$work/admin_port")
  local tries=0
  until curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/taalad.log" >&2; exit 1; }
    tries=$((tries + 1))
    [ "$tries" -lt 6000 ] || { echo "taalad not ready after 60 s" >&2; exit 1; }
    sleep 0.01
  done
}

start_taalad "$work/taalad.old"
echo "taalad on 127.0.0.1:$port (admin $admin), data $work/data, fsync mode"
if [ "$FILL_SESSIONS" -gt 0 ]; then
  [ -x "$driver" ] || { echo "missing $driver" >&2; exit 1; }
  "$driver" fill --endpoint="127.0.0.1:$port" --sessions="$FILL_SESSIONS" \
    --keys_per_session="$FILL_KEYS" --batch=$((FILL_KEYS < 125 ? FILL_KEYS : 125)) \
    --threads=4 --ttl=1h >"$work/fill.json"
  echo "filled: $(cat "$work/fill.json")"
fi

"$client" --endpoint="127.0.0.1:$port" --clients="$CLIENTS" --holders="$HOLDERS" \
  --ttl="$TTL" --max_attempts="$MAX_ATTEMPTS" --circuit_open_for="$OPEN_FOR" \
  --ready_file="$work/clients_ready" --stop_file="$work/stop" \
  >"$work/clients.json" 2>"$work/clients.err" &
client_pid=$!
until [ -e "$work/clients_ready" ]; do
  kill -0 "$client_pid" 2>/dev/null || { cat "$work/clients.err" >&2; exit 1; }
  sleep 0.05
done
sleep "$PAUSE_S"

: >"$work/restarts"
bins=("$work/taalad.new" "$work/taalad.old")
for i in $(seq "$RESTARTS"); do
  t_term=$(now)
  kill -TERM "$pid"
  set +e; wait "$pid"; rc=$?; set -e
  t_exit=$(now)
  [ "$rc" -eq 0 ] || { echo "taalad exited $rc after SIGTERM" >&2; tail "$work/taalad.log" >&2; exit 1; }
  sleep "$GAP_S"
  start_taalad "${bins[$(((i - 1) % 2))]}"
  t_ready=$(now)
  echo "$t_term $t_exit $t_ready" >>"$work/restarts"
  echo "restart $i: stop $(echo "$t_exit - $t_term" | bc) s, (gap $GAP_S s,) start to ready $(echo "$t_ready - $t_exit - $GAP_S" | bc) s"
  sleep "$PAUSE_S"
done

touch "$work/stop"
wait "$client_pid"
client_pid=
recovery=$(curl -s "http://127.0.0.1:$admin/metrics" | awk '/^taala_recovery_seconds /{print $2}')

/usr/bin/python3 - "$work/clients.json" "$work/restarts" "$recovery" "${JSON:-}" \
  "$CLIENTS" "$HOLDERS" "$RESTARTS" "$MAX_ATTEMPTS" "$FILL_SESSIONS" "$FILL_KEYS" \
  "$OPEN_FOR" "$GAP_S" "$TTL" <<'EOF'
import json, statistics, sys
clients = json.load(open(sys.argv[1]))["clients"]
restarts = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
recovery, out = sys.argv[3], sys.argv[4]
n_clients, holders, n_restarts, attempts, fill_s, fill_k, open_for, gap, ttl = sys.argv[5:14]

def stats(xs):
    return {"min": round(min(xs), 3), "median": round(statistics.median(xs), 3),
            "max": round(max(xs), 3)} if xs else None

# Assign each client's outage windows to the restart they belong to.
bounds = [r[0] for r in restarts] + [float("inf")]
per_restart = [[] for _ in restarts]
unmatched = 0
for c in clients:
    for start, end in c["windows"]:
        k = max((i for i, b in enumerate(bounds[:-1]) if start >= b - 1.0),
                default=None)
        if k is None or end < 0:
            unmatched += 1
            continue
        per_restart[k].append(end - start)
windows = [w for ws in per_restart for w in ws]
summary = {
    "clients": int(n_clients), "holders": int(holders),
    "restarts": int(n_restarts), "max_attempts": int(attempts),
    "circuit_open_for": open_for, "session_ttl": ttl,
    "fill": "%s sessions x %s keys" % (fill_s, fill_k),
    "stop_s": stats([e - t for t, e, r in restarts]),
    "gap_s": float(gap),
    "start_to_ready_s": stats([r - e - float(gap) for t, e, r in restarts]),
    "restart_total_s": stats([r - t for t, e, r in restarts]),
    "unavailable_s_per_client": stats(windows),
    "clients_with_a_window_per_restart": [len(ws) for ws in per_restart],
    "unmatched_windows": unmatched,
    "sessions_kept": sum(c["session_ok"] for c in clients),
    "held_keys_kept_same_token": sum(c["held_ok"] for c in clients if c["held_key"]),
    "other_errors": sum(c["other_errors"] for c in clients),
    "first_other_error": next((c["first_other_error"] for c in clients
                               if c["first_other_error"]), ""),
    "calls": sum(c["calls"] for c in clients),
    # Other errors, with their time relative to the restart's SIGTERM.
    "errors": [],
    "last_recovery_s": float(recovery) if recovery else None,
}
for c in clients:
    for e in c.get("errors", []):
        t = float(e.split(" sent at ")[1].split(":")[0])
        k = max((i for i, b in enumerate(bounds[:-1]) if t >= b - 1.0),
                default=None)
        rel = "" if k is None else " (restart %d %+.3f s)" % (k + 1, t - restarts[k][0])
        summary["errors"].append("client %d: %s%s" % (c["client"], e, rel))
print(json.dumps(summary, indent=1))
if out:
    json.dump(summary, open(out, "w"), indent=1)
ok = (summary["sessions_kept"] == int(n_clients) and
      summary["held_keys_kept_same_token"] == int(holders))
print("RESULT: %s; %d call(s) failed with another code than UNAVAILABLE" % (
    "every session and held key kept" if ok else
    "A SESSION OR HELD KEY WAS LOST (see above)", summary["other_errors"]))
sys.exit(0 if ok else 1)
EOF
