#!/usr/bin/env bash
# Makes (once) and prints the path of a Debian 12 minbase root file system,
# as a tarball cached in the build directory: the base that the package test
# installs taala's .deb into and that the image test imports into buildah.
#   tests/deploy/debian_base.sh BUILD_DIR   -> prints BUILD_DIR/deploy-cache/bookworm-minbase.tar
# Exit 77 (ctest's skip code) with a message when not root or when the
# Debian package source cannot be reached; 1 on any other failure.
# Concurrent callers (the package and image tests) wait on one lock.
set -euo pipefail
build_dir=$(cd "${1:?usage: debian_base.sh BUILD_DIR}" && pwd)
cache="$build_dir/deploy-cache"
tarball="$cache/bookworm-minbase.tar"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: debootstrap needs root" >&2
  exit 77
fi
# The machine's own Debian source (deb.debian.org unless configured otherwise).
mirror=${TAALA_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$( (sed -n -E 's#^URIs:[[:space:]]*(https?://[^ ]*/debian)/?[[:space:]]*$#\1#p' \
               /etc/apt/sources.list.d/*.sources 2>/dev/null
             sed -n -E 's#^deb[[:space:]]+(https?://[^ ]*/debian)/?[[:space:]].*#\1#p' \
               /etc/apt/sources.list 2>/dev/null) | head -n1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
if ! timeout 20 bash -c "exec 3<>/dev/tcp/$(echo "$mirror" |
     sed -E 's#https?://([^/:]+).*#\1#')/80" 2>/dev/null; then
  echo "SKIP: the Debian package source $mirror is unreachable" >&2
  exit 77
fi
root="$cache/rootfs.tmp"
rm -rf "$root"
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" \
     >"$cache/debootstrap.log" 2>&1; then
  if grep -qE "Failed getting release file|Temporary failure|Could not resolve" \
       "$cache/debootstrap.log"; then
    echo "SKIP: debootstrap could not reach $mirror (see $cache/debootstrap.log)" >&2
    rm -rf "$root"
    exit 77
  fi
  echo "debootstrap failed; see $cache/debootstrap.log" >&2
  tail -n 20 "$cache/debootstrap.log" >&2
  rm -rf "$root"
  exit 1
fi
# Leave out what an image never needs (apt's downloaded archives).
rm -rf "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
rm -rf "$root"
echo "$tarball"
