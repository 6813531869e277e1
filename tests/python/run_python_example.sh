#!/usr/bin/env bash
# ctest PythonExample: runs examples/python/lock_example.py and
# tests/python/check_exclusive.py, with the generated Python stubs, against a
# real taalad on a free loopback port.
#   run_python_example.sh <taalad> <stub dir> <lock_example.py>
# The interpreter is $TAALA_PYTHON (default /usr/bin/python3: Debian's
# python3-grpcio and python3-protobuf are installed for it, not for any other
# python3 on PATH). Exits non-zero on the first failed check; prints the
# daemon's log on failure.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 <taalad> <stub dir> <lock_example.py>" >&2
  exit 2
fi
taalad=$1
gen_dir=$2
example=$3
python=${TAALA_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)

fail() {
  echo "run_python_example: FAILED: $*" >&2
  exit 1
}
ok() { echo "run_python_example: ok $*"; }

# --- Preconditions, each with the fix in its message.
[ -x "$taalad" ] || fail "no taalad at $taalad (build it first)"
[ -f "$example" ] || fail "no example at $example"
for stub in lock_service_pb2.py lock_service_pb2_grpc.py; do
  [ -f "$gen_dir/taala/v1/$stub" ] ||
    fail "no $gen_dir/taala/v1/$stub (build target taala_python_stubs)"
done
[ -x "$python" ] || fail "no Python interpreter at $python"
if ! err=$("$python" -c 'import grpc, google.protobuf' 2>&1); then
  fail "$python cannot import grpc/protobuf (${err##*$'\n'}).
  Install Debian's packages: apt-get install -y python3-grpcio python3-protobuf
  (scripts/install-deps.sh does it)."
fi

# --- A real taalad on a free port; always stopped on exit.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taala_python_XXXXXX")
daemon_pid=""
tls_pid=""
stop_daemon() {
  local pid=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  local rc=$?
  stop_daemon "$daemon_pid"
  stop_daemon "$tls_pid"
  for log in taalad.log taalad_tls.log; do
    if [ "$rc" -ne 0 ] && [ -f "$tmp/$log" ]; then
      echo "---- taalad log ($tmp/$log) ----" >&2
      cat "$tmp/$log" >&2
      echo "---- end of taalad log ----" >&2
    fi
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$taalad" --listen=127.0.0.1:0 --port_file="$tmp/port" \
  --data_dir="$tmp/data" --admin_listen=127.0.0.1:0 --drain_timeout=200ms \
  --check_lock_order \
  >"$tmp/taalad.log" 2>&1 &
daemon_pid=$!

port=""
for _ in $(seq 200); do  # at most 20s
  kill -0 "$daemon_pid" 2>/dev/null || fail "taalad exited during start"
  if [ -s "$tmp/port" ]; then
    port=$(tr -d '[:space:]' <"$tmp/port")
    break
  fi
  sleep 0.1
done
if ! [[ "$port" =~ ^[1-9][0-9]*$ ]]; then
  fail "taalad wrote no port file within 20s"
fi
endpoint=127.0.0.1:$port
ok "taalad (pid $daemon_pid) serving on $endpoint"

# run_example <output file> [args...]: runs the example, bounded to 60s so
# this script (and its cleanup) finishes before ctest's own timeout; sets $rc.
run_example() {
  local out=$1
  shift
  rc=0
  PYTHONPATH=$gen_dir timeout 60 "$python" "$example" \
    --endpoint "$endpoint" "$@" >"$out" 2>&1 || rc=$?
  sed 's/^/    | /' "$out"
}

# expect_line <output file> <extended regexp>: the output has a whole line
# matching it; prints that line.
expect_line() {
  local line
  line=$(grep -E -m1 -x -- "$2" "$1") ||
    fail "no line matching '$2' in the example's output (above)"
  echo "$line"
}

key=examples/python

# --- 1. The example with its defaults: acquire, fence, release, close.
echo "run_python_example: lock_example.py --key $key"
run_example "$tmp/run1.out" --key "$key" --work-seconds 0.2
[ "$rc" -eq 0 ] || fail "lock_example.py exited $rc"
line=$(expect_line "$tmp/run1.out" "acquired key=$key token=[0-9]+")
token1=${line##*token=}
[ "$token1" -gt 0 ] || fail "token $token1 is not > 0"
expect_line "$tmp/run1.out" "fence_ok key=$key token=$token1" >/dev/null
expect_line "$tmp/run1.out" "released key=$key" >/dev/null
expect_line "$tmp/run1.out" "closed session=[0-9]+ released_grants=0" >/dev/null
! grep -q Traceback "$tmp/run1.out" || fail "the example printed a traceback"
ok "acquired $key with token $token1, checked the fence, released, closed"

# --- 2. The KeepAlive stream really keeps the session alive: a 1s lease held
# for 2.5s of work. Without renewals the session expires, the lock is lost
# and Release fails with NOT_FOUND. The same key gets a larger token.
echo "run_python_example: lock_example.py --ttl-ms 1000 --work-seconds 2.5"
run_example "$tmp/run2.out" --key "$key" --ttl-ms 1000 --work-seconds 2.5
[ "$rc" -eq 0 ] || fail "lock_example.py with a 1s lease exited $rc"
expect_line "$tmp/run2.out" "session id=[0-9]+ ttl_ms=1000" >/dev/null
line=$(expect_line "$tmp/run2.out" "acquired key=$key token=[0-9]+")
token2=${line##*token=}
[ "$token2" -gt "$token1" ] ||
  fail "second grant's token $token2 is not > first grant's $token1"
expect_line "$tmp/run2.out" "released key=$key" >/dev/null
line=$(expect_line "$tmp/run2.out" "keepalive acks=[0-9]+")
acks=${line##*acks=}
[ "$acks" -ge 4 ] || fail "only $acks KeepAlive renewals in 2.5s at ttl/3"
ok "1s lease kept alive for 2.5s ($acks renewals); token $token2 > $token1"

# --- 3. Contention between two copies of the example: while one holds the
# key, the other's bounded wait ends TIMED_OUT (exit 2) naming the holder.
echo "run_python_example: two lock_example.py on one key"
PYTHONPATH=$gen_dir timeout 60 "$python" "$example" --endpoint "$endpoint" \
  --key "$key/contended" --work-seconds 4 >"$tmp/holder.out" 2>&1 &
holder_pid=$!
for _ in $(seq 100); do  # at most 10s
  grep -q "^acquired " "$tmp/holder.out" && break
  kill -0 "$holder_pid" 2>/dev/null || break
  sleep 0.1
done
line=$(expect_line "$tmp/holder.out" "session id=[0-9]+ ttl_ms=[0-9]+")
holder_sid=${line#session id=}
holder_sid=${holder_sid%% *}
expect_line "$tmp/holder.out" "acquired key=$key/contended token=[0-9]+" \
  >/dev/null
run_example "$tmp/waiter.out" --key "$key/contended" --wait-ms 300
[ "$rc" -eq 2 ] || fail "second example exited $rc, expected 2 (timed out)"
expect_line "$tmp/waiter.out" \
  "timed_out key=$key/contended held_by=session $holder_sid \(python-example\)" \
  >/dev/null
! grep -q "^acquired " "$tmp/waiter.out" ||
  fail "second example acquired a key that was held"
holder_rc=0
wait "$holder_pid" || holder_rc=$?
sed 's/^/    | /' "$tmp/holder.out"
[ "$holder_rc" -eq 0 ] || fail "holding example exited $holder_rc"
expect_line "$tmp/holder.out" "released key=$key/contended" >/dev/null
ok "a held key times out for a second client, which names the holder"

# --- 4. Errors are clear and non-zero: a malformed key.
echo "run_python_example: lock_example.py --key 'bad//key'"
run_example "$tmp/bad.out" --key "bad//key"
[ "$rc" -eq 1 ] || fail "a malformed key exited $rc, expected 1"
grep -q "^lock_example: INVALID_ARGUMENT: .*key" "$tmp/bad.out" ||
  fail "no clear INVALID_ARGUMENT message for a malformed key"
! grep -q Traceback "$tmp/bad.out" || fail "the example printed a traceback"
ok "a malformed key fails with a clear INVALID_ARGUMENT message"

# --- 5. It is a real lock: try-lock and waits time out while held, FIFO
# handoff with a larger token, old tokens rejected.
echo "run_python_example: check_exclusive.py"
rc=0
PYTHONPATH=$gen_dir timeout 60 "$python" "$here/check_exclusive.py" \
  "$endpoint" "$key/exclusive" >"$tmp/check.out" 2>&1 || rc=$?
sed 's/^/    | /' "$tmp/check.out"
[ "$rc" -eq 0 ] || fail "check_exclusive.py exited $rc"
expect_line "$tmp/check.out" "check_exclusive: all checks passed" >/dev/null

kill -0 "$daemon_pid" 2>/dev/null || fail "taalad died during the test"

# --- 6. TLS and a bearer token (docs/security.md): a second taalad with
# --tls_cert and --auth_tokens_file, its certificate made here by openssl.
command -v openssl >/dev/null ||
  fail "no openssl command (apt-get install -y openssl)"
pki=$tmp/pki
mkdir -p "$pki"
{
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 -subj '/CN=python test ca' \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign &&
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$pki/server.key" -out "$pki/server.csr" -subj '/CN=localhost' &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
    >"$pki/server.ext" &&
  openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -set_serial 0x5eed -days 2 -extfile "$pki/server.ext" -out "$pki/server.pem"
} >"$pki/openssl.log" 2>&1 || fail "openssl: $(cat "$pki/openssl.log")"
py_token=python-example-secret
echo "pyuser sha256:$(printf '%s' "$py_token" | sha256sum | cut -d' ' -f1)" \
  >"$tmp/tokens"
"$taalad" --listen=127.0.0.1:0 --port_file="$tmp/tls_port" \
  --data_dir="$tmp/tls_data" --admin_listen= --drain_timeout=200ms \
  --tls_cert="$pki/server.pem" --tls_key="$pki/server.key" \
  --auth_tokens_file="$tmp/tokens" >"$tmp/taalad_tls.log" 2>&1 &
tls_pid=$!
tls_port=""
for _ in $(seq 200); do  # at most 20s
  kill -0 "$tls_pid" 2>/dev/null || fail "the TLS taalad exited during start"
  if [ -s "$tmp/tls_port" ]; then
    tls_port=$(tr -d '[:space:]' <"$tmp/tls_port")
    break
  fi
  sleep 0.1
done
[[ "$tls_port" =~ ^[1-9][0-9]*$ ]] || fail "the TLS taalad wrote no port file"
endpoint=127.0.0.1:$tls_port
echo "run_python_example: lock_example.py --tls-ca ... (token in \$TAALA_TOKEN)"
rc=0
TAALA_TOKEN=$py_token PYTHONPATH=$gen_dir timeout 60 "$python" "$example" \
  --endpoint "$endpoint" --tls-ca "$pki/ca.pem" --key "$key/tls" \
  --work-seconds 0.2 >"$tmp/tls.out" 2>&1 || rc=$?
sed 's/^/    | /' "$tmp/tls.out"
[ "$rc" -eq 0 ] || fail "lock_example.py over TLS with a token exited $rc"
expect_line "$tmp/tls.out" "released key=$key/tls" >/dev/null
ok "TLS with a bearer token: acquired, released, closed"
echo "run_python_example: lock_example.py over plaintext to the TLS port"
run_example "$tmp/plain.out" --key "$key/tls" --timeout 2
[ "$rc" -eq 1 ] || fail "plaintext to a TLS port exited $rc, expected 1"
grep -q "cannot connect to taalad" "$tmp/plain.out" ||
  fail "no clear message for plaintext to a TLS port"
ok "plaintext to the TLS port does not connect"
echo "run_python_example: lock_example.py with a wrong token"
run_example "$tmp/wrong.out" --key "$key/tls" --tls-ca "$pki/ca.pem" \
  --token wrong-token
grep -q "UNAUTHENTICATED" "$tmp/wrong.out" ||
  fail "a wrong token was not refused with UNAUTHENTICATED"
[ "$rc" -eq 1 ] || fail "a wrong token exited $rc, expected 1"
ok "a wrong token is refused with UNAUTHENTICATED"
kill -0 "$tls_pid" 2>/dev/null || fail "the TLS taalad died during the test"
echo "run_python_example: all checks passed"
