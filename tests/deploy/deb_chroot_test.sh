#!/usr/bin/env bash
# Installs the taala .deb the suite just built (fixture deb_package) into a
# fresh Debian 12 minbase chroot with apt, and checks what the package
# promises (docs/deploy.md, "Debian package"):
#   - taalad --version and taalactl --version run there;
#   - the user taala (nologin) and /var/lib/taala (taala:taala 0750) exist,
#     the flag file is a conffile, man pages, completion, unit, sysusers.d
#     and tmpfiles.d entries are installed;
#   - installing started nothing and enabled nothing;
#   - taalad runs as taala on the packaged flag file and serves a lock;
#   - purge keeps /var/lib/taala and the user; a reinstall over them works;
#   - taala-dev installs and its CMake package configures examples/consumer.
#   deb_chroot_test.sh BUILD_DIR SOURCE_DIR VERSION
# Exit 77 (skip) when not root or the Debian package source is unreachable.
# Every run starts from the cached minbase tarball and installs the fresh
# .deb; only apt's downloads and lists are cached (BUILD_DIR/deploy-cache).
set -euo pipefail
build_dir=$(cd "${1:?usage: deb_chroot_test.sh BUILD_DIR SOURCE_DIR VERSION}" && pwd)
source_dir=$(cd "$2" && pwd)
version=$3
arch=$(dpkg --print-architecture)
deb=$build_dir/package/taala_${version}_${arch}.deb
devdeb=$build_dir/package/taala-dev_${version}_${arch}.deb
for f in "$deb" "$devdeb"; do
  [ -s "$f" ] || { echo "FAIL: $f missing (the deb_package fixture makes it)"; exit 1; }
done
# shellcheck source=tests/deploy/chroot_lib.sh
. "$source_dir/tests/deploy/chroot_lib.sh"
chroot_setup "$build_dir" "$source_dir" pkg-chroot
daemon=
fail() { echo "FAIL: $*"; exit 1; }
ms() { echo "$((($2 - $1) / 1000000)) ms"; }
cleanup() {
  set +e
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; fi
  remove_work
}
trap cleanup EXIT

t0=$(date +%s%N)
new_root root
cp "$deb" "$devdeb" "$root/tmp/"
t1=$(date +%s%N)
apt_update_or_skip
t2=$(date +%s%N)
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" \
  > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "apt-get install taala"; }
t3=$(date +%s%N)
cp "$work/install.log" "$build_dir/package/chroot-install.log"
echo "install of taala: $(ms "$t2" "$t3") (extract $(ms "$t0" "$t1"), apt-get update $(ms "$t1" "$t2"))"

# postinst says how to start it, and did not.
grep -q "edit /etc/taala/taalad.flags, then: systemctl enable --now taalad" "$work/install.log" ||
  { cat "$work/install.log"; fail "postinst did not say how to start taalad"; }
for p in /proc/[0-9]*; do
  if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] &&
     [ "$(cat "$p/comm" 2>/dev/null)" = taalad ]; then
    fail "installing started taalad (pid ${p#/proc/})"
  fi
done
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/taalad.service" ] ||
  fail "installing enabled taalad.service"

# The binaries run.
out=$(in_root taalad --version) || fail "taalad --version"
echo "chroot: $out"
[[ $out == "taalad $version "* ]] || fail "taalad --version printed \"$out\""
out=$(in_root taalactl --version) || fail "taalactl --version"
[[ $out == "taalactl $version "* ]] || fail "taalactl --version printed \"$out\""
out=$(in_root taalactl --help) || fail "taalactl --help"
[[ $out == *$'\nCommands:\n'* ]] || fail "taalactl --help printed no commands"

# The packaged flag file is what taalad reads (and all of it is valid).
cfg=$(in_root taalad --flagfile=/etc/taala/taalad.flags --print_config) ||
  fail "taalad --print_config with the packaged flag file"
grep -q '^--data_dir=/var/lib/taala  # flag file$' <<< "$cfg" || fail "print_config: $cfg"
grep -q '^--listen=127.0.0.1:7070  # flag file$' <<< "$cfg" || fail "print_config: $cfg"

# The user and the data directory.
pw=$(in_root getent passwd taala) || fail "no user taala"
echo "chroot: $pw"
[ "$(echo "$pw" | cut -d: -f6)" = /var/lib/taala ] || fail "taala's home: $pw"
[ "$(echo "$pw" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "taala's shell: $pw"
in_root getent group taala > /dev/null || fail "no group taala"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "taala is not a system user (uid $uid)"
st=$(in_root stat -c '%U:%G %a' /var/lib/taala) || fail "no /var/lib/taala"
[ "$st" = "taala:taala 750" ] || fail "/var/lib/taala is $st"

# The files.
for f in /etc/taala/taalad.flags /usr/lib/systemd/system/taalad.service \
         /usr/lib/sysusers.d/taala.conf /usr/lib/tmpfiles.d/taala.conf \
         /usr/share/man/man8/taalad.8.gz /usr/share/man/man1/taalactl.1.gz \
         /usr/share/bash-completion/completions/taalactl \
         /usr/share/doc/taala/deploy.md /usr/share/doc/taala/README.md \
         /usr/share/doc/taala/copyright /usr/share/doc/taala/changelog.gz; do
  [ -s "$root$f" ] || fail "$f not installed"
done
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' taala)
grep -q '^ /etc/taala/taalad.flags ' <<< "$conffiles" ||
  fail "/etc/taala/taalad.flags is not a conffile"
grep -q '^ExecStart=/usr/bin/taalad --flagfile=/etc/taala/taalad.flags$' \
  "$root/usr/lib/systemd/system/taalad.service" || fail "the unit's ExecStart"
# Every program the installed unit runs exists in a minimal Debian.
while read -r exe; do
  [ -x "$root$exe" ] || fail "the unit runs $exe, which the chroot lacks"
done < <(sed -n -E 's/^Exec[A-Za-z]*=[-@:+!]*([^ ]+).*/\1/p' \
           "$root/usr/lib/systemd/system/taalad.service")
man8=$(gzip -dc "$root/usr/share/man/man8/taalad.8.gz") || fail "taalad.8.gz is not gzip"
grep -q '^\.TH TAALAD "8"' <<< "$man8" || fail "taalad.8 header"
grep -q -- 'drain_timeout' <<< "$man8" || fail "taalad.8 lacks the flags"

# taalad runs as taala on the packaged flag file (ports 0: the host's tests
# may hold 7070), takes a lock, and stops cleanly on SIGTERM.
gid=$(echo "$pw" | cut -d: -f4)
chroot --userspec="$uid:$gid" "$root" /usr/bin/taalad \
  --flagfile=/etc/taala/taalad.flags --listen=127.0.0.1:0 \
  --admin_listen=127.0.0.1:0 --port_file=/var/lib/taala/port \
  --admin_port_file=/var/lib/taala/admin_port > "$work/taalad.log" 2>&1 &
daemon=$!
for _ in $(seq 1 1000); do [ -s "$root/var/lib/taala/port" ] && break; sleep 0.02; done
[ -s "$root/var/lib/taala/port" ] || { cat "$work/taalad.log"; fail "taalad did not start as taala"; }
port=$(cat "$root/var/lib/taala/port")
out=$(in_root taalactl --endpoint "127.0.0.1:$port" lock pkg/test -- sh -c 'echo "token=$TAALA_FENCING_TOKEN"') ||
  { cat "$work/taalad.log"; fail "taalactl lock through the chroot's taalad"; }
[[ $out == token=[1-9]* ]] || fail "taalactl lock printed \"$out\""
in_root taalactl --endpoint "127.0.0.1:$port" health > /dev/null || fail "taalactl health"
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=
[ "$rc" -eq 0 ] || { cat "$work/taalad.log"; fail "taalad exited $rc on SIGTERM"; }
[ "$(stat -c %u "$root/var/lib/taala/LOCK")" = "$uid" ] || fail "LOCK not owned by taala"
echo "chroot: taalad ran as taala (uid $uid) on port $port and took a lock: $out"

# Purge keeps the lock state and the user; a reinstall over them works.
in_root apt-get purge -y -q taala > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
[ -f "$root/var/lib/taala/LOCK" ] || fail "purge removed /var/lib/taala's state"
in_root getent passwd taala > /dev/null || fail "purge removed the user"
[ ! -e "$root/etc/taala/taalad.flags" ] || fail "purge left the conffile"
in_root dpkg -i "/tmp/$(basename "$deb")" > "$work/reinstall.log" 2>&1 ||
  { cat "$work/reinstall.log"; fail "reinstall after purge"; }
[ "$(in_root getent passwd taala | cut -d: -f3)" = "$uid" ] || fail "reinstall changed taala's uid"
[ "$(in_root stat -c '%U:%G %a' /var/lib/taala)" = "taala:taala 750" ] || fail "reinstall: /var/lib/taala"

# taala-dev: installs with its dependencies; its CMake package is there and
# configures examples/consumer (on the host, from the package's files).
t4=$(date +%s%N)
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$devdeb")" \
  > "$work/install-dev.log" 2>&1 || { cat "$work/install-dev.log"; fail "apt-get install taala-dev"; }
t5=$(date +%s%N)
echo "install of taala-dev: $(ms "$t4" "$t5")"
for f in /usr/lib/cmake/taala/taalaConfig.cmake /usr/lib/cmake/taala/taalaConfigVersion.cmake \
         /usr/lib/cmake/taala/taalaTargets.cmake /usr/include/taala/client/lock_client.h \
         /usr/share/doc/taala-dev/copyright /usr/share/doc/taala-dev/changelog.gz; do
  [ -s "$root$f" ] || fail "taala-dev: $f not installed"
done
mkdir "$work/dev"
dpkg-deb -x "$devdeb" "$work/dev"
cmake -S "$source_dir/examples/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/dev/usr" > "$work/consumer.log" 2>&1 ||
  { cat "$work/consumer.log"; fail "find_package(taala) from taala-dev"; }
echo "deb chroot OK ($(ms "$t0" "$(date +%s%N)"))"
