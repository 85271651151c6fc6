#!/usr/bin/env bash
# Long fuzzing of every parser (tests/fuzz): FUZZ_SECONDS per target (default
# 600), inputs found kept in build-fuzz/corpus/ across runs. CI runs the same
# targets for 20 s each from tests/run.sh.
#   tests/bench/fuzz.sh                      # all targets, 10 min each
#   FUZZ_SECONDS=3600 tests/bench/fuzz.sh config layout
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/fuzz/fuzz.sh "${FUZZ_SECONDS:-600}" "$@"
