#!/usr/bin/env bash
# colo's test command: installs what is missing, builds into build/, and runs
# the whole ctest suite — unit tests always, privileged tests (BPF_PROG_TEST_RUN,
# integration with real programs, cgroups and workloads) when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

cd build
if [[ $(id -u) -eq 0 ]]; then
  ctest --output-on-failure --timeout 600 "$@"
else
  echo "tests/run.sh: not root: running unit tests only (privileged tests need root)" >&2
  ctest --output-on-failure -LE privileged "$@"
fi
