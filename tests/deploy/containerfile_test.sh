#!/usr/bin/env bash
# deploy/Containerfile (no image can be built here): two stages, the build
# stage on Debian bookworm with every package of BUILD_PKGS that the build
# needs, and a runtime stage whose packages provide every shared library the
# built binary links directly (found with readelf + dpkg), nothing from the
# build stage but the binary.
#   tests/deploy/containerfile_test.sh path/to/colo
set -euo pipefail
colo=${1:?usage: containerfile_test.sh COLO_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
cf="$here/../../deploy/Containerfile"
fail=0
err() { echo "FAIL: $*" >&2; fail=1; }

froms=$(grep -cE '^FROM ' "$cf")
[[ $froms -eq 2 ]] || err "expected two stages, found $froms"
grep -qE '^FROM debian:bookworm AS build$' "$cf" || err "build stage must be FROM debian:bookworm AS build"
grep -qE '^FROM debian:bookworm-slim AS runtime$' "$cf" || err "runtime stage must be FROM debian:bookworm-slim AS runtime"
grep -qE '^COPY --from=build /build/colo ' "$cf" || err "runtime must copy only the binary from the build stage"

# The packages each stage installs.
stage_pkgs() {
  awk -v stage="$1" '
    /^FROM / { cur = ($0 ~ ("AS " stage "$")) }
    cur { print }' "$cf" |
    sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' |
    grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install|rm|rf|y|no-install-recommends|&&' | sort -u
}
build_pkgs=$(stage_pkgs build)
runtime_pkgs=$(stage_pkgs runtime)
[[ -n "$runtime_pkgs" ]] || err "no runtime packages found"

# Build stage: the build packages of deploy/install-deps.sh (minus the test
# framework: the image is built with -DCOLO_BUILD_TESTS=OFF).
for p in $(sed -n '/^BUILD_PKGS=(/,/)/p' "$here/../../deploy/install-deps.sh" | tr -d '()' | sed 's/BUILD_PKGS=//' | tr ' ' '\n' | sed '/^$/d'); do
  [[ $p == libgtest-dev ]] && continue
  grep -qx "$p" <<<"$build_pkgs" || err "build stage lacks $p (deploy/install-deps.sh BUILD_PKGS)"
done
grep -q -- '-DCOLO_BUILD_TESTS=OFF' "$cf" || err "the image build should skip the tests"

# Runtime stage: a package for every library colo links directly. libc,
# libstdc++ and libgcc are in bookworm-slim already.
base="libc6 libstdc++6 libgcc-s1"
while read -r lib; do
  path=$(ldd "$colo" | awk -v l="$lib" '$1 == l { print $3 }')
  [[ -n "$path" ]] || { err "cannot resolve $lib"; continue; }
  real=$(readlink -f "$path")
  pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
  pkg=${pkg%%:*}
  [[ -n "$pkg" ]] || { err "$lib ($path) belongs to no Debian package"; continue; }
  if grep -qx "$pkg" <<<"$runtime_pkgs" || [[ " $base " == *" $pkg "* ]]; then
    echo "ok: $lib from $pkg"
  else
    err "runtime stage lacks $pkg (provides $lib, which colo links)"
  fi
done < <(readelf -d "$colo" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[[ $fail -eq 0 ]] && echo "containerfile_test: passed" || exit 1
