#!/usr/bin/env bash
# Builds colo's libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and runs
# each for a bounded time from its seed corpus in tests/fuzz/corpus/<target>.
#   tests/fuzz/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   # default 20 s, all targets
# New inputs found go to build-fuzz/corpus/<target> (the committed seeds stay
# small); a crash or sanitizer report leaves build-fuzz/artifacts/<target>/crash-*
# and makes this script exit 1 naming the target and the input.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(config duration cpu_list psi flat_keyed proc_cgroup layout
                                       cgroup_files topology)

cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ -DCOLO_FUZZ=ON -DCOLO_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target colo_fuzzers -j"$(nproc)" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
  bin=build-fuzz/tests/fuzz/fuzz_$t
  work=build-fuzz/corpus/$t
  art=build-fuzz/artifacts/$t
  mkdir -p "$work" "$art"
  log=build-fuzz/fuzz_$t.log
  # -rss_limit_mb bounds what one input may make a parser allocate.
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=4096 \
       -print_final_stats=1 -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz $t: ok, $runs inputs in ${secs}s"
  else
    echo "fuzz $t: FAILED (log $log):" >&2
    grep -E 'ERROR|runtime error|FUZZ_CHECK|Test unit written|SUMMARY' "$log" | head -20 >&2
    failed+=("$t")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failures in: ${failed[*]}" >&2
  exit 1
fi
