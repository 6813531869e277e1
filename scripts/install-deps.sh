#!/usr/bin/env bash
# Installs the Debian 12 packages taala builds, tests and runs with.
#   scripts/install-deps.sh [--build-only]
# Idempotent and quick when everything is present: apt-get runs only if a
# package is missing. Needs root (or sudo) the first time.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache clang
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3-grpcio python3-protobuf
  libcpp-httplib-dev chromium libssl-dev openssl
  libclang-rt-dev  # libFuzzer (clang++ -fsanitize=fuzzer): tests/fuzz/
  # deploy: the .deb (dpkg-shlibdeps, man pages), the chroot and image tests,
  # the unit's checks (systemd-analyze), the manifests' YAML.
  dpkg-dev help2man debootstrap buildah systemd python3-yaml strace
  bash-completion  # completion_test.sh: the _init_completion, _command_offset path
  lintian  # review_pkg_test.sh: no lintian errors in either .deb
  python3-kubernetes docker-compose  # manifest field checks, compose config
  curl procps  # the image test's and upgrade bench's HTTP checks; pgrep
)

# --build-only: what building taalad, taalactl and the client library and
# packaging them (cpack) needs, without tests, benchmarks or the deploy
# checks: the container image's build stage (deploy/container/Containerfile).
build_only=(
  build-essential cmake ninja-build pkg-config clang file
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libcpp-httplib-dev libssl-dev
  dpkg-dev help2man
)
if [ "${1:-}" = --build-only ]; then
  packages=("${build_only[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
