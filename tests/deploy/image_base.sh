#!/usr/bin/env bash
# Makes (once) and prints the name of a buildah image standing in for
# docker.io/library/debian:12-slim, which this machine cannot pull: the
# Debian 12 minbase root file system of tests/deploy/debian_base.sh, slimmed
# the way Debian's official slim images are (no apt lists, docs, man pages or
# locales, and a dpkg configuration that keeps packages from installing them).
#   tests/deploy/image_base.sh BUILD_DIR
#     -> prints localhost/taala-test-base:bookworm-SHA (SHA: the first 12
#        hex digits of the tarball's SHA-256)
# One image per tarball, reused while it exists: build directories with
# different tarballs (each debootstrap run makes its own) do not replace
# each other's base, and with it every cached layer above it. Exit 77
# (skip) as debian_base.sh does; 1 on any other failure.
set -euo pipefail
build_dir=${1:?usage: image_base.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)

rc=0
tarball=$("$here/debian_base.sh" "$build_dir") || rc=$?
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
if ! command -v buildah >/dev/null; then
  echo "image_base: buildah is not installed (scripts/install-deps.sh)" >&2
  exit 1
fi

# One importer at a time across every worktree: the image store is global.
mkdir -p /run/lock
exec 8>/run/lock/taala-test-base.lock
flock 8

sum=$(sha256sum "$tarball" | cut -d' ' -f1)
image="localhost/taala-test-base:bookworm-${sum:0:12}"
have=$(buildah inspect --type image \
         --format '{{index .OCIv1.Config.Labels "taala.test-base.sha256"}}' \
         "$image" 2>/dev/null || true)
if [ "$have" = "$sum" ]; then
  echo "$image"
  exit 0
fi

echo "image_base: importing $tarball as $image" >&2
ctr=$(buildah from --pull-never scratch)
cleanup() { buildah rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
mnt=$(buildah mount "$ctr")
tar -C "$mnt" --numeric-owner -xf "$tarball"
# What debian:12-slim leaves out (debuerreotype-slimify), and what an image
# never needs: apt's lists and caches, logs, device nodes (the runtime
# provides /dev).
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/*.bin \
       "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/log/*.log \
       "$mnt"/var/cache/debconf/*-old "$mnt"/var/lib/dpkg/*-old \
       "$mnt"/usr/share/info/* "$mnt"/usr/share/man/* \
       "$mnt"/usr/share/locale/* "$mnt"/usr/share/lintian/* \
       "$mnt"/usr/share/linda/* "$mnt"/usr/share/groff/*
find "$mnt"/dev -mindepth 1 -delete
find "$mnt"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find "$mnt"/usr/share/doc -mindepth 1 -type d -empty -delete
mkdir -p "$mnt"/etc/dpkg/dpkg.cfg.d "$mnt"/etc/apt/apt.conf.d
cat >"$mnt"/etc/dpkg/dpkg.cfg.d/docker <<'EOF'
# As in Debian's slim images: packages installed later leave these out too.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
cat >"$mnt"/etc/apt/apt.conf.d/docker-clean <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
buildah umount "$ctr" >/dev/null
buildah config --cmd '["bash"]' \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label "taala.test-base.sha256=$sum" "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap - EXIT
echo "$image"
