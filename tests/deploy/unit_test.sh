#!/usr/bin/env bash
# Checks deploy/taalad.service, the unit the taala package installs:
#   - `systemd-analyze verify` passes (on a copy whose ExecStart is the built
#     taalad: verify rejects a missing binary; man:taalad(8) is found in the
#     build's generated man pages);
#   - `systemd-analyze security --offline=true` exposure is at most 4.0;
#   - Type=notify, NotifyAccess=main, User/Group taala, the flag-file
#     condition, and TimeoutStopSec longer than the packaged flag file's
#     --drain_timeout plus the final snapshot's budget (30 s);
#   - the sysusers.d and tmpfiles.d entries create the user and the data
#     directory (systemd-sysusers/-tmpfiles --root on a scratch root; root);
#   - taalad sends READY=1 to $NOTIFY_SOCKET once it serves and STOPPING=1
#     on SIGTERM;
#   - every system call and address family taalad uses in a start, the
#     notifications, a lock, /metrics, SIGHUP and SIGTERM (strace) is allowed
#     by the unit's SystemCallFilter= and RestrictAddressFamilies=.
#   unit_test.sh SOURCE_DIR BUILD_DIR TAALAD TAALACTL
set -euo pipefail
source_dir=$(cd "${1:?usage: unit_test.sh SOURCE_DIR BUILD_DIR TAALAD TAALACTL}" && pwd)
build_dir=$(cd "$2" && pwd)
taalad=$3 taalactl=$4
unit=$source_dir/deploy/taalad.service
flags=$source_dir/deploy/taalad.flags
work=$(mktemp -d)
daemon= listener=
cleanup() {
  if [ -n "$listener" ]; then kill "$listener" 2>/dev/null || true; fi
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# The unit's value of KEY (the last assignment wins, as in systemd).
setting() { sed -n -E "s/^$1=(.*)$/\1/p" "$unit" | tail -n1; }
usec() { systemd-analyze timespan "$1" | sed -n -E 's/^ *μs: ([0-9]+)$/\1/p'; }

# verify.
man_check=(--man=yes)
if [ -s "$build_dir/man/taalad.8" ]; then
  mkdir -p "$work/man/man8"
  cp "$build_dir/man/taalad.8" "$work/man/man8/"
else
  echo "note: no generated man pages (no help2man): Documentation=man: not checked"
  man_check=(--man=no)
fi
sed "s#^ExecStart=/usr/bin/taalad #ExecStart=$taalad #" "$unit" > "$work/taalad.service"
grep -q "^ExecStart=$taalad --flagfile=/etc/taala/taalad.flags$" "$work/taalad.service" ||
  fail "ExecStart is not /usr/bin/taalad --flagfile=/etc/taala/taalad.flags"
if ! MANPATH=$work/man systemd-analyze verify "${man_check[@]}" "$work/taalad.service" > "$work/verify.log" 2>&1 ||
   [ -s "$work/verify.log" ]; then
  cat "$work/verify.log"; fail "systemd-analyze verify"
fi
echo "systemd-analyze verify: clean"

# security.
systemd-analyze security --offline=true "$unit" > "$work/security.log" 2>&1 || true
exposure=$(sed -n -E 's/.*Overall exposure level for taalad\.service: ([0-9.]+).*/\1/p' "$work/security.log")
[ -n "$exposure" ] || { cat "$work/security.log"; fail "no exposure level"; }
echo "systemd-analyze security: exposure $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e <= 4.0) }' ||
  { cat "$work/security.log"; fail "exposure $exposure > 4.0"; }

# Settings.
[ "$(setting Type)" = notify ] || fail "Type=$(setting Type), not notify"
[ "$(setting NotifyAccess)" = main ] || fail "NotifyAccess=$(setting NotifyAccess)"
[ "$(setting User)" = taala ] && [ "$(setting Group)" = taala ] || fail "User/Group not taala"
[ "$(setting ConditionPathExists)" = /etc/taala/taalad.flags ] || fail "ConditionPathExists"
[ "$(setting StateDirectory)" = taala ] || fail "StateDirectory"
grep -qx -- '--data_dir=/var/lib/taala' "$flags" || fail "the flag file's --data_dir"
stop=$(usec "$(setting TimeoutStopSec)")
drain=$(usec "$(sed -n -E 's/^--drain_timeout=(.*)$/\1/p' "$flags")")
snapshot=$(usec 30s)
[ -n "$stop" ] && [ -n "$drain" ] || fail "cannot read TimeoutStopSec or --drain_timeout"
echo "TimeoutStopSec $((stop / 1000000)) s > drain $((drain / 1000000)) s + snapshot budget $((snapshot / 1000000)) s"
[ "$stop" -gt $((drain + snapshot)) ] || fail "TimeoutStopSec too short"

# sysusers.d and tmpfiles.d, as systemd applies them (postinst's systemd path).
if [ "$(id -u)" -eq 0 ]; then
  r=$work/sysroot
  mkdir -p "$r/etc" "$r/var/lib"
  : > "$r/etc/passwd"; : > "$r/etc/group"; : > "$r/etc/shadow"; : > "$r/etc/gshadow"
  systemd-sysusers --root="$r" "$source_dir/deploy/debian/sysusers.conf" \
    > "$work/sysusers.log" 2>&1 || { cat "$work/sysusers.log"; fail "systemd-sysusers"; }
  pw=$(grep '^taala:' "$r/etc/passwd") || fail "sysusers.d made no user taala"
  [ "$(echo "$pw" | cut -d: -f6,7)" = /var/lib/taala:/usr/sbin/nologin ] || fail "sysusers: $pw"
  systemd-tmpfiles --root="$r" --create "$source_dir/deploy/debian/tmpfiles.conf"
  [ "$(stat -c '%u %a' "$r/var/lib/taala")" = "$(echo "$pw" | cut -d: -f3) 750" ] ||
    fail "tmpfiles: /var/lib/taala is $(stat -c '%u %a' "$r/var/lib/taala")"
  echo "sysusers.d/tmpfiles.d: $pw, /var/lib/taala 0750"
else
  echo "sysusers.d/tmpfiles.d: not checked (needs root)"
fi

# System calls and address families taalad uses, against the unit's filter.
tracer=(strace -f -qq -o "$work/strace.log")
command -v strace > /dev/null || tracer=()
# A stand-in for systemd's notify socket: Type=notify needs READY=1 once
# taalad serves and STOPPING=1 on SIGTERM.
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        m = s.recv(4096).decode()
        out.write(m.replace("\n", " ") + "\n")
        out.flush()
' "$work/notify" "$work/notify.log" &
listener=$!
for _ in $(seq 1 500); do [ -S "$work/notify" ] && break; sleep 0.02; done
[ -S "$work/notify" ] || fail "notify socket stand-in did not start"
NOTIFY_SOCKET=$work/notify "${tracer[@]}" "$taalad" --flagfile="$flags" \
  --data_dir="$work/data" --listen=127.0.0.1:0 --port_file="$work/port" \
  --admin_listen=127.0.0.1:0 --admin_port_file="$work/admin_port" \
  > "$work/taalad.log" 2>&1 &
daemon=$!
for _ in $(seq 1 1500); do [ -s "$work/port" ] && break; sleep 0.02; done
[ -s "$work/port" ] || { cat "$work/taalad.log"; fail "taalad did not start"; }
for _ in $(seq 1 500); do grep -q '^READY=1' "$work/notify.log" 2>/dev/null && break; sleep 0.02; done
grep -q '^READY=1' "$work/notify.log" || fail "no READY=1 on \$NOTIFY_SOCKET once serving"
"$taalactl" --endpoint "127.0.0.1:$(cat "$work/port")" lock unit/test -- true ||
  fail "taalactl lock"
exec 3<>"/dev/tcp/127.0.0.1/$(cat "$work/admin_port")"
printf 'GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n' >&3
grep -q '^HTTP/1.[01] 200' <&3 || fail "/metrics"
exec 3<&-
pid=$daemon
if [ ${#tracer[@]} -gt 0 ]; then
  pid=$(pgrep -P "$daemon" -x taalad) || fail "no taalad under strace"
fi
kill -HUP "$pid"
sleep 0.5
kill -TERM "$pid"
rc=0; wait "$daemon" || rc=$?
daemon=
[ "$rc" -eq 0 ] || { cat "$work/taalad.log"; fail "taalad exited $rc"; }
kill "$listener"; wait "$listener" 2>/dev/null || true
grep -q '^STOPPING=1' "$work/notify.log" || fail "no STOPPING=1 on SIGTERM"
echo "sd_notify: $(tr '\n' '|' < "$work/notify.log")"
if [ ${#tracer[@]} -eq 0 ]; then
  echo "system calls: not checked (no strace)"
  echo "unit OK"
  exit 0
fi
/usr/bin/python3 - "$work/strace.log" "$(setting RestrictAddressFamilies)" \
    "$(sed -n -E 's/^SystemCallFilter=(.*)$/\1/p' "$unit" | tr '\n' ';')" <<'EOF'
import re, subprocess, sys
log, families, filters = sys.argv[1], sys.argv[2].split(), sys.argv[3]
def expand(group, seen=None):
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        names |= expand(w) if w.startswith("@") else {w}
    return names
allowed = set()
for f in filter(None, filters.split(";")):
    deny = f.startswith("~")
    names = set()
    for w in f.lstrip("~").split():
        names |= expand(w) if w.startswith("@") else {w}
    if deny:
        allowed -= names
    else:
        allowed |= names
used, fams = set(), set()
for line in open(log):
    m = re.match(r"\d+\s+(?:<\.\.\. )?(\w+)[( ]", line)
    if m and not line.split(None, 1)[1].startswith(("+++", "---")):
        used.add(m.group(1))
    m = re.search(r"\bsocket\((AF_\w+)", line)
    if m:
        fams.add(m.group(1))
used.discard("exit")  # strace's "exited" lines
denied = sorted(used - allowed)
bad_fams = sorted(fams - set(families))
print(f"system calls: {len(used)} used, all allowed" if not denied else
      f"FAIL: system calls the unit denies: {denied}")
print(f"address families: {sorted(fams)}")
if bad_fams:
    print(f"FAIL: address families the unit denies: {bad_fams}")
sys.exit(1 if denied or bad_fams else 0)
EOF
echo "unit OK"
