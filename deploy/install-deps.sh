#!/usr/bin/env bash
# Installs what colo needs from Debian's archive, only what is missing.
#   deploy/install-deps.sh build   # to build colo
#   deploy/install-deps.sh test    # to build and run its tests
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config git clang llvm libbpf-dev bpftool libelf-dev
            zlib1g-dev prometheus-cpp-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
            libcpp-httplib-dev libgtest-dev libnl-route-3-dev)
# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes for clang 14 (tests/fuzz);
# libcap2-bin: capsh (the capabilities test).
TEST_PKGS=(stress-ng rt-tests libbpf-tools iproute2 linux-perf prometheus tmux curl procps
           systemd openssl libclang-rt-14-dev libcap2-bin)


want=("${BUILD_PKGS[@]}")
[[ "${1:-build}" == test ]] && want+=("${TEST_PKGS[@]}")
# The manifest tests run node and npm (tests/deploy). A node from elsewhere
# (e.g. a newer one that brings its own npm) is kept: Debian's npm would
# conflict with it.
if [[ "${1:-build}" == test ]] && ! command -v npm >/dev/null; then
  command -v node >/dev/null && want+=(npm) || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "colo: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "colo: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
