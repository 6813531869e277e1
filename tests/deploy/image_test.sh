#!/usr/bin/env bash
# The container image (issue 13), built and run with buildah:
#   tests/deploy/image_test.sh SOURCE_DIR BUILD_DIR TAALACTL
# 1. Builds only the `runtime` stage of deploy/container/Containerfile from the
#    .deb the suite just made (BUILD_DIR/package/taala_*.deb, the ctest
#    fixture deb_package), on a local Debian 12 slim stand-in
#    (tests/deploy/image_base.sh), with --layers: an unchanged .deb reuses
#    every layer.
# 2. Runs taalad in it (buildah run --isolation=chroot: the host's network,
#    loopback ports; the image's own user, uid 10001) on a data directory of
#    the host; the host's taalactl takes locks through it and leaves one
#    held; /healthz answers 200 and the image's HEALTHCHECK command exits 0
#    inside the container; SIGTERM stops taalad with status 0; a second run
#    on the same data directory restores the held lock, same session.
# 3. Asserts the image is at most 200 MB.
# With TAALA_LONG_TESTS=1 it then builds the whole multi-stage image from
# SOURCE_DIR (compiling everything) and runs the same checks on it.
# Exit 77 (skip) when not root or when the Debian package source is
# unreachable (the base cannot be made).
set -euo pipefail
src=$(cd "${1:?usage: image_test.sh SOURCE_DIR BUILD_DIR TAALACTL}" && pwd)
build=$(cd "${2:?}" && pwd)
taalactl=${3:?}
max_bytes=$((200 * 1000 * 1000))
t0=$(date +%s)

say() { echo "image_test [$(($(date +%s) - t0))s]: $*"; }
fail() {
  echo "image_test: FAILED: $*" >&2
  for log in "$work"/taalad-*.log; do
    [ -f "$log" ] || continue
    echo "---- $log (last 40 lines) ----" >&2
    tail -n 40 "$log" >&2
  done
  exit 1
}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: buildah's chroot isolation needs root" >&2
  exit 77
fi
for tool in buildah curl /usr/bin/python3; do
  command -v "$tool" >/dev/null ||
    { echo "image_test: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

rc=0
base=$("$src/tests/deploy/image_base.sh" "$build") || rc=$?
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
say "base image $base"

# The runtime package the suite just made (cpack: the deb_package fixture).
deb=$(ls -t "$build"/package/taala_*.deb 2>/dev/null | head -n1 || true)
[ -n "$deb" ] || { echo "image_test: no $build/package/taala_*.deb (run cpack)" >&2; exit 1; }

work="$build/deploy-image-test"
rm -rf "$work"
mkdir -p "$work"
# Names of this build directory's images and containers: other worktrees
# share buildah's store.
tag=$(echo "$build" | sha256sum | cut -c1-12)
image="localhost/taala:test-$tag"
containers=()
pids=()
run_args=()
cleanup() {
  local i c
  # Newest first: each taalad before the buildah run above it (a killed
  # buildah run would leave its taalad running).
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -9 "${pids[i]}" 2>/dev/null || true
  done
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# The build context: the .deb and the container's flag file, nothing else.
ctx="$work/context"
mkdir -p "$ctx/deploy/container"
cp "$deb" "$ctx/"
cp "$src/deploy/container/taalad.flags" "$ctx/deploy/container/"
cmp -s "$src/deploy/container/Containerfile" "$src/deploy/container/Dockerfile" ||
  fail "deploy/container/Containerfile and Dockerfile differ"

# A failed bud whose apt-get could not reach the Debian package source (the
# runtime libraries come from it): a skip, as debian_base.sh's.
unreachable() {
  if grep -qE "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect" \
       "$work/bud.log" "$work/bud-full.log" 2>/dev/null; then
    echo "SKIP: apt-get in the image build could not reach the Debian package source" >&2
    exit 77
  fi
}

old_id=$(buildah images --noheading --quiet --no-trunc "$image" 2>/dev/null || true)
say "building the runtime stage from $(basename "$deb")"
b0=$(date +%s)
if ! buildah bud --isolation=chroot --layers --force-rm --format docker --pull-never \
       --target runtime -f "$src/deploy/container/Containerfile" \
       --build-arg BASE="$base" --build-arg DEB_FROM=prebuilt \
       -t "$image" "$ctx" >"$work/bud.log" 2>&1; then
  tail -n 40 "$work/bud.log" >&2
  unreachable
  fail "buildah bud of the runtime stage (log: $work/bud.log)"
fi
say "runtime stage built in $(($(date +%s) - b0))s ($(grep -c 'Using cache' "$work/bud.log" || true) steps from the cache)"
new_id=$(buildah images --noheading --quiet --no-trunc "$image")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  buildah rmi "$old_id" >/dev/null 2>&1 || true  # The previous .deb's image.
fi


# A field of the image's Docker config, as JSON.
config() {
  buildah inspect --type image "$1" | /usr/bin/python3 -c '
import json, sys
print(json.dumps(json.load(sys.stdin)["Docker"]["config"].get(sys.argv[1])))' "$2"
}

# The image's size: its layers' bytes (what `buildah images` shows).
image_bytes() {
  buildah inspect --type image "$1" | /usr/bin/python3 -c '
import json, sys
m = json.loads(json.load(sys.stdin)["Manifest"])
print(sum(layer["size"] for layer in m["layers"]))'
}

# The process `name` among the descendants of `pid` (buildah run's child).
descendant() {
  local pid=$1 name=$2 child found
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    if [ "$(cat /proc/"$child"/comm 2>/dev/null)" = "$name" ]; then
      echo "$child"
      return 0
    fi
    if found=$(descendant "$child" "$name"); then
      echo "$found"
      return 0
    fi
  done
  return 1
}

# Waits (at most 60 s) for `cmd...` to succeed while the process `pid` lives.
wait_for() {
  local pid=$1 what=$2
  shift 2
  local i
  for i in $(seq 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "$what: the process ended first"
    sleep 0.1
  done
  fail "$what: not within 60 s"
}

# Starts taalad in a new working container of `image`, with the image's
# ENTRYPOINT (the flag file) and user, the data directory $data bind-mounted
# at /var/lib/taala and $run (the port files) at /run/taala-test, plus
# `args`. Sets run_pid (buildah run) and taalad_pid.
start_taalad() {
  local image=$1 log=$2
  shift 2
  local ctr entrypoint
  ctr=$(buildah from --pull-never "$image")
  containers+=("$ctr")
  last_ctr=$ctr
  # The working container (not the image) forgets the image's VOLUME: with
  # it, buildah 1.28's run mounts both its own copy of the volume and the -v
  # below at /var/lib/taala, in an order an unstable sort picks
  # (setupMounts, util.SortMounts), and taalad wrote into the copy now and
  # then. The image's VOLUME is checked from its config.
  buildah config --volume /var/lib/taala- "$ctr"
  mapfile -t entrypoint < <(config "$image" Entrypoint |
    /usr/bin/python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')
  [ "${entrypoint[*]}" = "/usr/bin/taalad --flagfile=/etc/taala/taalad.flags" ] ||
    fail "ENTRYPOINT is ${entrypoint[*]}"
  buildah run --isolation=chroot -v "$data:/var/lib/taala" \
    -v "$run:/run/taala-test" "${run_args[@]}" "$ctr" -- "${entrypoint[@]}" \
    "$@" >"$log" 2>&1 &
  run_pid=$!
  pids+=("$run_pid")
  wait_for "$run_pid" "taalad answering /readyz (log $log)" bash -c \
    "curl -fsS http://127.0.0.1:\$(cat '$run/admin_port')/readyz"
  taalad_pid=$(descendant "$run_pid" taalad) || fail "no taalad under buildah run"
  pids+=("$taalad_pid")
}

# SIGTERM to taalad inside; buildah run must end with taalad's status, 0.
stop_taalad() {
  local log=$1 status=0
  kill -TERM "$taalad_pid"
  wait "$run_pid" || status=$?
  [ "$status" -eq 0 ] || fail "after SIGTERM buildah run exited $status, not 0"
  grep -q "taalad stopped" "$log" || fail "no 'taalad stopped' in $log"
}

# The session holding `key` (taalactl describe through $ep).
holder_of() {
  "$taalactl" "$ep" --json describe "$1" | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["holders"][0]["grant"]["session_id"])'
}

# Everything the issue asks of a running image.
check_image() {
  local image=$1 name=$2
  data="$work/$name-data"
  run="$work/$name-run"
  mkdir -p "$data" "$run"
  chown 10001:10001 "$data" "$run"
  run_args=()
  local log1="$work/taalad-$name-1.log" log2="$work/taalad-$name-2.log"
  local hc user ep="" port aport how

  [ "$(config "$image" User)" = '"10001:10001"' ] || fail "USER is $(config "$image" User)"
  [ "$(config "$image" Volumes)" = '{"/var/lib/taala": {}}' ] ||
    fail "VOLUME is $(config "$image" Volumes)"
  [ "$(config "$image" ExposedPorts)" = '{"7070/tcp": {}, "7071/tcp": {}}' ] ||
    fail "EXPOSE is $(config "$image" ExposedPorts)"
  [ "$(config "$image" StopSignal)" = '"SIGTERM"' ] || fail "STOPSIGNAL"

  # First run: the ports from the command line (port 0: free ones, read
  # back from the port files), after the flag file's 0.0.0.0 ones.
  start_taalad "$image" "$log1" --listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 \
    --port_file=/run/taala-test/port --admin_port_file=/run/taala-test/admin_port
  port=$(cat "$run/port")
  aport=$(cat "$run/admin_port")
  ep="--endpoint=127.0.0.1:$port"
  say "$name: taalad (pid $taalad_pid) serves on 127.0.0.1:$port, admin 127.0.0.1:$aport"

  user=$(awk '/^Uid:|^Gid:/ {print $1, $2, $3, $4, $5}' /proc/"$taalad_pid"/status | tr '\n' ' ')
  [ "$user" = "Uid: 10001 10001 10001 10001 Gid: 10001 10001 10001 10001 " ] ||
    fail "taalad runs as $user, not uid/gid 10001"
  local owners
  owners=$(stat -c "%u:%g %n" "$data" "$data"/* | sort -u)
  [ -z "$(echo "$owners" | grep -v "^10001:10001 ")" ] ||
    fail "the data directory is not all 10001's: $owners"

  # The host's taalactl: a lock taken and released through it, and one held.
  "$taalactl" "$ep" lock --wait 10s image-test/once -- true ||
    fail "taalactl lock image-test/once"
  "$taalactl" "$ep" lock --ttl 10m image-test/held -- sleep 600 \
    >"$work/$name-lock.out" 2>&1 &
  local lock_pid=$!
  pids+=("$lock_pid")
  wait_for "$lock_pid" "image-test/held being held" \
    bash -c "'$taalactl' '$ep' --json describe image-test/held | grep -q session_id"
  local holder
  holder=$(holder_of image-test/held) || fail "image-test/held: no holder"
  local rc=0
  "$taalactl" "$ep" lock --wait 0 image-test/held -- true 2>/dev/null || rc=$?
  [ "$rc" -eq 75 ] || fail "a second taalactl lock of a held key exited $rc, not 75"
  say "$name: taalactl took image-test/once; image-test/held is held by session $holder"

  # /healthz from the host, and the image's HEALTHCHECK inside the container
  # (its address moved to this run's admin port).
  curl -fsS "http://127.0.0.1:$aport/healthz" | grep -q '"score"' || fail "/healthz"
  mapfile -t hc < <(config "$image" Healthcheck | /usr/bin/python3 -c '
import json, sys
test = json.load(sys.stdin)["Test"]
assert test[0] == "CMD", test
print("\n".join(test[1:]))')
  [ "${hc[0]}" = /usr/bin/taalactl ] || fail "HEALTHCHECK runs ${hc[*]}"
  hc=("${hc[@]/127.0.0.1:7071/127.0.0.1:$aport}")
  buildah run --isolation=chroot "$last_ctr" -- "${hc[@]}" >"$work/$name-hc.out" 2>&1 ||
    fail "HEALTHCHECK ${hc[*]} inside the container: $(cat "$work/$name-hc.out")"
  say "$name: /healthz 200; HEALTHCHECK (${hc[*]}) exits 0 inside"

  stop_taalad "$log1"
  say "$name: SIGTERM: taalad exited 0"

  # Second run, a new container on the same data directory and ports (the
  # held lock's taalactl reconnects). The ports come from the environment
  # when the image's taalad reads TAALAD_* (taalad --print_config).
  rm -f "$run/port" "$run/admin_port"
  local args=(--port_file=/run/taala-test/port --admin_port_file=/run/taala-test/admin_port)
  if buildah run --isolation=chroot "$last_ctr" -- /usr/bin/taalad --print_config \
       >/dev/null 2>&1; then
    run_args=(-e "TAALAD_LISTEN=127.0.0.1:$port" -e "TAALAD_ADMIN_LISTEN=127.0.0.1:$aport")
    how="from TAALAD_LISTEN and TAALAD_ADMIN_LISTEN"
  else
    args+=("--listen=127.0.0.1:$port" "--admin_listen=127.0.0.1:$aport")
    how="from the command line"
  fi
  start_taalad "$image" "$log2" "${args[@]}"
  run_args=()
  local now
  now=$(holder_of image-test/held) || fail "image-test/held is not held after the restart"
  [ "$now" = "$holder" ] || fail "image-test/held: holder $now after the restart, $holder before"
  kill -0 "$lock_pid" 2>/dev/null || fail "taalactl lock ended: $(cat "$work/$name-lock.out")"
  say "$name: second run (ports $how) restored image-test/held (session $holder)"

  kill -TERM "$lock_pid"
  wait "$lock_pid" || true
  stop_taalad "$log2"
  local bytes
  bytes=$(image_bytes "$image")
  say "$name: image $image is $bytes bytes ($((bytes / 1000000)) MB)"
  [ "$bytes" -le "$max_bytes" ] || fail "the image is $bytes bytes, more than 200 MB"
}

# The image's secure default: on 0.0.0.0 without TLS taalad refuses to
# start; with mutual TLS (the Kubernetes paths) it serves, and its admin
# listener on 0.0.0.0 answers probes only.
check_secure_defaults() {
  local image=$1 ctr rc=0 log="$work/taalad-refused.log"
  ctr=$(buildah from --pull-never "$image")
  containers+=("$ctr")
  buildah run --isolation=chroot "$ctr" -- /usr/bin/taalad \
    --flagfile=/etc/taala/taalad.flags --listen=0.0.0.0:0 \
    --data_dir=/tmp/refused >"$log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] && grep -q "is not a loopback address" "$log" ||
    fail "taalad on 0.0.0.0 without TLS did not refuse to start (exit $rc)"
  say "secure default: without TLS or TAALAD_INSECURE_ALLOW_REMOTE taalad refuses 0.0.0.0"

  local tls="$work/tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout ca.key -out ca.crt -days 2 -subj "/CN=taala image test CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    for leaf in tls:server client:client; do
      name=${leaf%%:*} usage=${leaf##*:}
      printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=%sAuth\n%s\n' "$usage" \
        "$([ "$usage" = server ] && echo subjectAltName=IP:127.0.0.1,DNS:localhost)" >"$name.ext"
      openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$name.key" -out "$name.csr" -subj "/CN=image-test-$usage"
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days 2 -out "$name.crt" -extfile "$name.ext"
    done
  ) >"$work/openssl.log" 2>&1 || fail "openssl: $(cat "$work/openssl.log")"
  chown -R 10001:10001 "$tls"
  data="$work/tls-data"
  run="$work/tls-run"
  mkdir -p "$data" "$run"
  chown 10001:10001 "$data" "$run"
  run_args=(-v "$tls:/etc/taala/tls:ro")
  log="$work/taalad-tls.log"
  start_taalad "$image" "$log" --listen=0.0.0.0:0 --admin_listen=0.0.0.0:0 \
    --tls_cert=/etc/taala/tls/tls.crt --tls_key=/etc/taala/tls/tls.key \
    --tls_client_ca=/etc/taala/tls/ca.crt \
    --port_file=/run/taala-test/port --admin_port_file=/run/taala-test/admin_port
  run_args=()
  local port aport
  port=$(cat "$run/port")
  aport=$(cat "$run/admin_port")
  "$taalactl" --endpoint="127.0.0.1:$port" --tls-ca="$tls/ca.crt" \
    --tls-cert="$tls/client.crt" --tls-key="$tls/client.key" \
    lock --wait 10s image-test/tls -- true ||
    fail "taalactl lock over mutual TLS"
  rc=0
  "$taalactl" --endpoint="127.0.0.1:$port" --timeout=3s health >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "a plaintext taalactl was served by the TLS port"
  curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null || fail "/healthz with TLS"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/api/v1/locks")
  [ "$code" = 401 ] || fail "/api/v1/locks without a token answered $code, not 401"
  stop_taalad "$log"
  say "mutual TLS on 0.0.0.0: taalactl locks with a client certificate, plaintext is refused, /healthz open, /api/v1/locks 401"
}

check_image "$image" runtime
check_secure_defaults "$image"

if [ "${TAALA_LONG_TESTS:-}" = 1 ]; then
  full="localhost/taala:test-full-$tag"
  say "TAALA_LONG_TESTS=1: the full multi-stage build from $src"
  old_full=$(buildah images --noheading --quiet --no-trunc "$full" 2>/dev/null || true)
  f0=$(date +%s)
  if ! buildah bud --isolation=chroot --layers --force-rm --format docker --pull-never \
         -f "$src/deploy/container/Containerfile" --build-arg BASE="$base" \
         --build-arg BUILD_JOBS="${TAALA_IMAGE_BUILD_JOBS:-2}" \
         --build-arg TAALA_GIT_COMMIT="$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || true)" \
         -t "$full" "$src" >"$work/bud-full.log" 2>&1; then
    tail -n 60 "$work/bud-full.log" >&2
    unreachable
    fail "the full buildah bud (log: $work/bud-full.log)"
  fi
  new_full=$(buildah images --noheading --quiet --no-trunc "$full")
  if [ -n "$old_full" ] && [ "$old_full" != "$new_full" ]; then
    buildah rmi "$old_full" >/dev/null 2>&1 || true
  fi
  say "full build done in $(($(date +%s) - f0))s"
  check_image "$full" full
  check_secure_defaults "$full"
else
  say "skipped the full multi-stage build (TAALA_LONG_TESTS=1 runs it)"
fi
say "passed in $(($(date +%s) - t0))s"
