#!/usr/bin/env bash
# durability_bench.sh: the write-ahead log's cost and recovery (issue 9;
# docs/benchmarks.md, "Durability (issue 9)"). Runs real taalad daemons, each
# on a fresh data dir under one temp dir, and stops and removes them all.
#
# Usage (from a built tree: scripts/build.sh taalad taala-bench durability-driver):
#   bench/durability_bench.sh [--rounds=3] [--duration=3s] [--clients=1,8,64]
#                             [--fill_sessions=1000] [--fill_keys=1000]
#                             [--pairs=1000000] [--pair_keys=1000]
#                             [--restarts=3] [--out=DIR] [--skip=1,2,3,4]
#   TAALA_BUILD_DIR (default build) names the build; TMPDIR the temp dir's
#   parent (data dirs go there: use the disk you want measured).
#
# Parts (each prints its own table; raw JSON and logs go to --out, default a
# directory under the temp dir that is removed unless --out is given):
#   0. The disk: 4 KiB write+fdatasync latency (python), 300 times.
#   1. Uncontended Acquire+Release pairs/s, p50/p99 (taala-bench
#      --backends=taala --endpoint=...) for --durability=fsync, async and
#      none, one fresh daemon per (round, mode), modes alternated in a
#      rotating order over --rounds rounds; medians, and ratios to none
#      within each round. GetServerStatus before/after each client count
#      gives records per fsync and bytes per record.
#   2. Recovery of --fill_sessions x --fill_keys held locks (fill through
#      AcquireAll in an fsync daemon): log replay (kill -9 right after the
#      fill; the crashed dir is copied and replayed --restarts times) and
#      snapshot (SIGTERM writes a final snapshot; restarted --restarts
#      times). Start-to-port-file time, recovery_ms, records replayed.
#   3. VmRSS/VmHWM of the daemon holding them: fsync (live after the fill,
#      and after each recovery) and none (live after the fill).
#   4. --pairs pairs over --pair_keys keys (64 threads) in one fsync daemon:
#      pairs/s, records/pair, bytes/pair, records/fsync, and the data dir's
#      files after the run and after a clean stop.
# Takes about 9.5 minutes with the defaults (part 4 alone about 5.5: a million
# pairs at the disk's pace); --skip=4 about 3.5.
# Part 2's "replay" rows replay whatever the crash left: the fill writes 35.7
# MB of log, past the 32 MB snapshot trigger, so if the snapshot thread
# finished before the kill -9 they are that snapshot plus the log after it
# (the records_replayed and snap LSN columns say which).
set -euo pipefail

rounds=3 duration=3s clients=1,8,64 fill_sessions=1000 fill_keys=1000
pairs=1000000 pair_keys=1000 restarts=3 out="" skip=""
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds=${arg#*=} ;;
    --duration=*) duration=${arg#*=} ;;
    --clients=*) clients=${arg#*=} ;;
    --fill_sessions=*) fill_sessions=${arg#*=} ;;
    --fill_keys=*) fill_keys=${arg#*=} ;;
    --pairs=*) pairs=${arg#*=} ;;
    --pair_keys=*) pair_keys=${arg#*=} ;;
    --restarts=*) restarts=${arg#*=} ;;
    --out=*) out=${arg#*=} ;;
    --skip=*) skip=${arg#*=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 64 ;;
  esac
done

cd "$(dirname "$0")/.."
build=$(realpath "${TAALA_BUILD_DIR:-build}")
taalad=$build/server/taalad
bench=$build/bench/taala-bench
driver=$build/bench/durability-driver
for b in "$taalad" "$bench" "$driver"; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh taalad taala-bench durability-driver" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taala-durability.XXXXXX")
[ -n "$out" ] || out=$tmp/out
mkdir -p "$out"
out=$(realpath "$out")
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -9 "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
skipped() { [[ ",$skip," == *",$1,"* ]]; }
log() { echo "[$(date +%T)] $*" >&2; }

# start_daemon MODE DATA_DIR LOG: sets daemon_pid, port, start_s (seconds
# from exec to the port file).
start_daemon() {
  local mode=$1 dir=$2 logf=$3
  rm -f "$tmp/port"
  local t0; t0=$(date +%s%N)
  # The fill holds a million keys from one (anonymous) identity: past the
  # per-identity default of --max_held_per_identity (issue 12's limits).
  "$taalad" --listen=127.0.0.1:0 --port_file="$tmp/port" --data_dir="$dir" \
    --durability="$mode" --admin_listen=127.0.0.1:0 \
    --max_held_per_identity=100000000 --max_keys=100000000 >"$logf" 2>&1 &
  daemon_pid=$!
  while [ ! -s "$tmp/port" ]; do
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      echo "taalad exited; log:" >&2; cat "$logf" >&2; exit 1
    fi
    sleep 0.01
  done
  start_s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  port=$(cat "$tmp/port")
}
stop_daemon() {  # SIGTERM: drain, final snapshot.
  kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
}
crash_daemon() {
  kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
}
status() { "$driver" status --endpoint="127.0.0.1:$port"; }
rss_kb() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$daemon_pid/status"; }

echo "durability_bench: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "kernel $(uname -r); data dirs under $tmp on $(df --output=source,fstype "$tmp" | tail -1 | tr -s ' ')"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); build $build; out $out"

# ---- 0. The disk's fsync latency.
if ! skipped 0; then
  python3 - "$tmp/fsync_probe" <<'EOF' | tee "$out/fsync_probe.txt"
import os, sys, time
path = sys.argv[1]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
block = b"x" * 4096
lat = []
for _ in range(300):
    os.write(fd, block)
    t = time.perf_counter()
    os.fdatasync(fd)
    lat.append((time.perf_counter() - t) * 1e3)
os.close(fd); os.unlink(path)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"0. disk: 4 KiB append + fdatasync, 300 times: p50 {q(50):.2f} ms, "
      f"p90 {q(90):.2f} ms, p99 {q(99):.2f} ms, max {lat[-1]:.2f} ms")
EOF
fi

# ---- 1. Throughput and latency per mode.
if ! skipped 1; then
  modes=(fsync async none)
  : >"$out/p1_wal.tsv"
  for ((r = 1; r <= rounds; r++)); do
    for ((i = 0; i < 3; i++)); do
      mode=${modes[$(((i + r - 1) % 3))]}
      dir=$tmp/p1-$mode-$r
      start_daemon "$mode" "$dir" "$out/p1_${mode}_r$r.log"
      for c in ${clients//,/ }; do
        log "part 1: round $r/$rounds, $mode, $c clients"
        before=$(status)
        "$bench" --backends=taala --endpoint="127.0.0.1:$port" --clients="$c" \
          --duration="$duration" --warmup=1s \
          --json="$out/p1_${mode}_r${r}_c$c.json" >"$out/p1_${mode}_r${r}_c$c.txt"
        after=$(status)
        printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$mode" "$c" "$before" "$after" >>"$out/p1_wal.tsv"
      done
      stop_daemon
      rm -rf "$dir"
    done
  done
  python3 - "$out" "$rounds" "$clients" <<'EOF' | tee "$out/part1.txt"
import json, statistics, sys
out, rounds, clients = sys.argv[1], int(sys.argv[2]), [int(c) for c in sys.argv[3].split(",")]
modes = ["fsync", "async", "none"]
def row(mode, r, c):
    return json.load(open(f"{out}/p1_{mode}_r{r}_c{c}.json"))["rows"][0]
wal = {}
for line in open(f"{out}/p1_wal.tsv"):
    r, mode, c, before, after = line.rstrip("\n").split("\t")
    b, a = json.loads(before), json.loads(after)
    wal[(mode, int(c), int(r))] = {k: a[k] - b[k] for k in ("wal_records", "wal_fsyncs", "wal_bytes")}
med = statistics.median
print(f"\n1. Uncontended Acquire+Release, medians of {rounds} rounds (one fresh taalad per mode and round)")
print(f"{'clients':>7} {'mode':>6} {'pairs/s':>9} {'x none':>7} {'(per-round x none)':>22} {'p50 us':>8} {'p99 us':>8} {'rec/fsync':>9} {'B/record':>8}")
for c in clients:
    for mode in modes:
        runs = [row(mode, r, c) for r in range(1, rounds + 1)]
        pps = med([x["pairs_per_sec"] for x in runs])
        none_pps = med([row("none", r, c)["pairs_per_sec"] for r in range(1, rounds + 1)])
        per_round = [row(mode, r, c)["pairs_per_sec"] / row("none", r, c)["pairs_per_sec"] for r in range(1, rounds + 1)]
        w = [wal[(mode, c, r)] for r in range(1, rounds + 1)]
        rpf = med([x["wal_records"] / x["wal_fsyncs"] for x in w]) if all(x["wal_fsyncs"] for x in w) else float("nan")
        bpr = med([x["wal_bytes"] / x["wal_records"] for x in w]) if all(x["wal_records"] for x in w) else float("nan")
        errors = sum(x["errors"] for x in runs)
        print(f"{c:>7} {mode:>6} {pps:>9.0f} {pps / none_pps:>7.2f} {', '.join(f'{x:.2f}' for x in per_round):>22} "
              f"{med([x['p50_us'] for x in runs]):>8.0f} {med([x['p99_us'] for x in runs]):>8.0f} "
              f"{rpf:>9.1f} {bpr:>8.1f}" + (f"  ERRORS {errors}" if errors else ""))
EOF
fi

# ---- 2 and 3. Recovery of a million held locks; RSS.
if ! skipped 2; then
  dir=$tmp/p2
  : >"$out/part2.tsv"
  log "part 2: fill $fill_sessions x $fill_keys held keys (fsync)"
  start_daemon fsync "$dir" "$out/p2_fill.log"
  "$driver" fill --endpoint="127.0.0.1:$port" --sessions="$fill_sessions" \
    --keys_per_session="$fill_keys" --threads=16 | tee "$out/p2_fill.json"
  fill_rss=$(rss_kb VmRSS) fill_hwm=$(rss_kb VmHWM)
  status >"$out/p2_fill_status.json"
  crash_daemon
  ls -l "$dir/wal" "$dir/snapshot" >"$out/p2_crashed_dir.txt" 2>&1 || true
  cp -a "$dir" "$tmp/p2-crashed"
  for ((i = 1; i <= restarts; i++)); do
    log "part 2: log replay $i/$restarts"
    rm -rf "$dir"; cp -a "$tmp/p2-crashed" "$dir"; sync
    start_daemon fsync "$dir" "$out/p2_replay_$i.log"
    printf 'replay\t%s\t%s\t%s\t%s\n' "$start_s" "$(rss_kb VmRSS)" "$(rss_kb VmHWM)" "$(status)" >>"$out/part2.tsv"
    if ((i < restarts)); then crash_daemon; fi
  done
  stop_daemon  # Writes the final snapshot.
  for ((i = 1; i <= restarts; i++)); do
    log "part 2: snapshot load $i/$restarts"
    start_daemon fsync "$dir" "$out/p2_snapshot_$i.log"
    printf 'snapshot\t%s\t%s\t%s\t%s\n' "$start_s" "$(rss_kb VmRSS)" "$(rss_kb VmHWM)" "$(status)" >>"$out/part2.tsv"
    stop_daemon
  done
  ls -l "$dir/wal" "$dir/snapshot" >"$out/p2_clean_dir.txt" 2>&1 || true
  rm -rf "$dir" "$tmp/p2-crashed"
  log "part 3: fill $fill_sessions x $fill_keys held keys (none)"
  start_daemon none "$tmp/p3" "$out/p3_fill.log"
  "$driver" fill --endpoint="127.0.0.1:$port" --sessions="$fill_sessions" \
    --keys_per_session="$fill_keys" --threads=16 >"$out/p3_fill.json"
  none_rss=$(rss_kb VmRSS) none_hwm=$(rss_kb VmHWM)
  crash_daemon
  rm -rf "$tmp/p3"
  python3 - "$out" "$fill_rss" "$fill_hwm" "$none_rss" "$none_hwm" <<'EOF' | tee "$out/part2.txt"
import json, statistics, sys
out = sys.argv[1]
fill_rss, fill_hwm, none_rss, none_hwm = (int(x) / 1024 for x in sys.argv[2:6])
fill = json.load(open(f"{out}/p2_fill.json"))
none_fill = json.load(open(f"{out}/p3_fill.json"))
print(f"\n2. Recovery of {fill['grants']} held locks ({fill['sessions']} sessions); "
      f"fill took {fill['seconds']:.1f} s in fsync mode ({fill['grants_per_sec']:.0f} grants/s), "
      f"{none_fill['seconds']:.1f} s in none mode")
print(f"{'path':>9} {'start->port s (each)':>26} {'median':>7} {'recovery_ms (each)':>24} {'replayed':>9} {'snap LSN':>9} {'RSS MiB':>8} {'HWM MiB':>8}")
rows = {}
for line in open(f"{out}/part2.tsv"):
    path, start, rss, hwm, st = line.rstrip("\n").split("\t")
    rows.setdefault(path, []).append((float(start), int(rss) / 1024, int(hwm) / 1024, json.loads(st)))
for path, rs in rows.items():
    st = rs[-1][3]
    print(f"{path:>9} {', '.join(f'{r[0]:.2f}' for r in rs):>26} {statistics.median(r[0] for r in rs):>7.2f} "
          f"{', '.join(str(r[3]['recovery_ms']) for r in rs):>24} {st['records_replayed']:>9} {st['snapshot_lsn']:>9} "
          f"{statistics.median(r[1] for r in rs):>8.0f} {statistics.median(r[2] for r in rs):>8.0f}")
    for r in rs:
        if r[3]["grants_restored"] != fill["grants"]:
            print(f"   WARNING: {path} restored {r[3]['grants_restored']} grants")
print(f"\n3. RSS holding {fill['grants']} locks, live after the fill: fsync {fill_rss:.0f} MiB (peak {fill_hwm:.0f}), "
      f"none {none_rss:.0f} MiB (peak {none_hwm:.0f}); fsync/none {fill_rss / none_rss:.2f}")
EOF
fi

# ---- 4. A million pairs on a thousand keys in fsync mode: the data dir.
if ! skipped 4; then
  dir=$tmp/p4
  log "part 4: $pairs pairs over $pair_keys keys (fsync, 64 threads)"
  start_daemon fsync "$dir" "$out/p4.log"
  before=$(status)
  "$driver" pairs --endpoint="127.0.0.1:$port" --pairs="$pairs" --keys="$pair_keys" \
    --threads=64 >"$out/p4_pairs.json"
  after=$(status)
  (cd "$dir" && find . -type f -printf '%10s  %p\n' | sort -k2) >"$out/p4_dir_running.txt"
  stop_daemon
  (cd "$dir" && find . -type f -printf '%10s  %p\n' | sort -k2) >"$out/p4_dir_stopped.txt"
  rm -rf "$dir"
  python3 - "$out" "$before" "$after" <<'EOF' | tee "$out/part4.txt"
import json, sys
out, b, a = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
p = json.load(open(f"{out}/p4_pairs.json"))
d = {k: a[k] - b[k] for k in ("wal_records", "wal_fsyncs", "wal_bytes")}
print(f"\n4. {p['pairs']} pairs over {p['keys']} keys, {p['threads']} threads, fsync: {p['seconds']:.1f} s, "
      f"{p['pairs_per_sec']:.0f} pairs/s" + (f", ERRORS {p['errors']}" if p["errors"] else ""))
print(f"   records/pair {d['wal_records'] / p['pairs']:.3f}, bytes/pair {d['wal_bytes'] / p['pairs']:.1f}, "
      f"records/fsync {d['wal_records'] / max(1, d['wal_fsyncs']):.1f}, log written {d['wal_bytes'] / 2**20:.1f} MiB")
for name, title in (("running", "after the run (daemon up)"), ("stopped", "after SIGTERM (final snapshot)")):
    print(f"   data dir {title}:")
    for line in open(f"{out}/p4_dir_{name}.txt"):
        print("     " + line.rstrip())
EOF
fi
log "done"
