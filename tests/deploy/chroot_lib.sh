# Sourced by the package tests (deb_chroot_test.sh, review_pkg_test.sh):
# fresh Debian 12 minbase chroots from the cached debootstrap tarball, with
# apt's lists and downloads cached in BUILD_DIR/deploy-cache.
#   chroot_setup BUILD_DIR SOURCE_DIR NAME  skip (exit 77) unless root and the
#                       base can be made; takes the package tests' lock; sets
#                       base, cache, work (a new directory NAME.XXXXXX)
#   new_root NAME       $work/NAME: the base extracted, /proc and apt's cache
#                       mounted; sets root
#   apt_update_or_skip  apt-get update in the root (exit 77 if the Debian
#                       source is unreachable, 1 on another failure)
#   in_root CMD...      CMD in the root with a clean environment
#   unmount_root        undoes new_root's mounts (safe to call twice)
#   remove_work         unmounts, then removes $work unless a mount remains
root=

chroot_setup() {
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: chroot needs root"; exit 77; fi
  local rc=0
  base=$("$2/tests/deploy/debian_base.sh" "$1") || rc=$?
  if [ "$rc" -ne 0 ]; then exit "$rc"; fi
  cache=$1/deploy-cache
  mkdir -p "$cache/pkg-apt-archives/partial" "$cache/pkg-apt-lists/partial"
  exec 8>"$cache/.pkg-test.lock"
  flock 8
  work=$(mktemp -d "$cache/$3.XXXXXX")
}

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
              DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

unmount_root() {
  [ -n "$root" ] || return 0
  for m in var/lib/apt/lists var/cache/apt/archives proc; do
    mountpoint -q "$root/$m" && umount "$root/$m"
  done
  return 0
}

remove_work() {
  unmount_root
  # Never rm -rf through a mount that is still there.
  if grep -q " $work/" /proc/mounts; then
    echo "cleanup: mounts remain under $work; not removing it" >&2
  else
    rm -rf "$work"
  fi
}

new_root() {
  unmount_root
  root=$work/$1
  mkdir "$root"
  tar -C "$root" -xf "$base"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  [ -n "$(find "$cache/pkg-apt-lists" -mindepth 1 -maxdepth 1 ! -name partial -print -quit)" ] ||
    cp -a "$root/var/lib/apt/lists/." "$cache/pkg-apt-lists/"
  mount --bind "$cache/pkg-apt-lists" "$root/var/lib/apt/lists"
  mount --bind "$cache/pkg-apt-archives" "$root/var/cache/apt/archives"
}

apt_update_or_skip() {
  if ! in_root apt-get update -q > "$work/update.log" 2>&1; then
    if grep -qE "Temporary failure|Could not resolve|Failed to fetch" "$work/update.log"; then
      echo "SKIP: apt-get update in the chroot could not reach the Debian source"
      tail -n 5 "$work/update.log"
      exit 77
    fi
    cat "$work/update.log"; echo "FAIL: apt-get update"; exit 1
  fi
}
