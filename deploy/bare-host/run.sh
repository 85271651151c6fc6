#!/usr/bin/env bash
# Quick start on a bare Debian 12 host: install what is missing, build, and run
# the agent in the foreground with the built-in defaults (metrics on
# 127.0.0.1:9809). Ctrl-C stops it cleanly. Extra arguments go to `colo agent`.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOLO_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target colo
exec build/colo agent "$@"
