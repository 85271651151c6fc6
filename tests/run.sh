#!/usr/bin/env bash
# colo's test command: installs what is missing, builds into build/, and runs
# the whole ctest suite — unit tests always, privileged tests (BPF_PROG_TEST_RUN,
# integration with real programs, cgroups and workloads) when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

(
cd build
if [[ $(id -u) -eq 0 ]]; then
  ctest --output-on-failure --timeout 600 "$@"
else
  echo "tests/run.sh: not root: running unit tests only (privileged tests need root)" >&2
  ctest --output-on-failure -LE privileged "$@"
fi
)

# The full run (no ctest arguments) adds the sanitizer stages: the unit tests
# again under AddressSanitizer + UBSan (build-asan/), then every parser fuzzed
# for a bounded time (tests/fuzz/fuzz.sh, clang, build-fuzz/). COLO_SANITIZERS=0
# skips them; COLO_FUZZ_SECONDS sets the time per fuzz target.
if [[ $# -eq 0 && ${COLO_SANITIZERS:-1} != 0 ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOLO_SANITIZE=ON >/dev/null
  cmake --build build-asan --target colo_unit_tests -j"$(nproc)"
  (cd build-asan &&
   ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   ctest --output-on-failure -L unit -R '^unit\.')  # the C++ unit tests (not deploy/dashboards)
  tests/fuzz/fuzz.sh "${COLO_FUZZ_SECONDS:-20}"
fi
