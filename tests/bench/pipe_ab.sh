#!/usr/bin/env bash
# pipe_ab.sh — what two builds' switch programs cost per run, A against B.
#
#   sudo tests/bench/pipe_ab.sh A_BENCH B_BENCH [ROUNDS [LOOPS [CPU]]]   # 8, 30000, -1
#
# A_BENCH and B_BENCH are two builds of colo_bench_pipe (e.g. a worktree's
# build/tests/colo_bench_pipe and this one's). Each round runs each of them
# once, A then B, as `colo_bench_pipe 2 LOOPS CPU colo` (CPU -1: unpinned pipe;
# colo's programs with the run-time stats on), and takes the ns a run of colo's
# sched_switch program that it prints. Prints every round, then the median ns
# a run of each side and the median of B/A per round: alternating, so that
# the machine's drift (20% over minutes on the VM of RESULTS.md) falls on
# both sides. Not a test: it prints what it measured.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 A_BENCH B_BENCH [ROUNDS [LOOPS [CPU]]]" >&2
  exit 2
fi
A=$1 B=$2 ROUNDS=${3:-8} LOOPS=${4:-30000} CPU=${5:--1}
for b in "$A" "$B"; do
  [[ -x $b ]] || { echo "$0: $b is not an executable colo_bench_pipe" >&2; exit 2; }
done
[[ $(id -u) -eq 0 ]] || { echo "$0: needs root" >&2; exit 1; }

ns_a_run() {
  "$1" 2 "$LOOPS" "$CPU" colo 2>/dev/null | awk '/ns a run/ {for (i = 1; i < NF; i++) if ($(i + 1) == "ns") print $i}'
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= ROUNDS; r++)); do
  a=$(ns_a_run "$A")
  b=$(ns_a_run "$B")
  if [[ -z $a || -z $b ]]; then
    echo "$0: round $r: a side printed no cost (is the program loaded with the stats on?)" >&2
    exit 1
  fi
  echo "round $r: A $a ns/run, B $b ns/run"
  echo "$a $b" >>"$out"
done
awk '
  function median(v, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  { a[NR] = $1; b[NR] = $2; r[NR] = $2 / $1 }
  END {
    printf "A: median %.1f ns/run\nB: median %.1f ns/run\nB/A per round: median %.3f\n",
           median(a, NR), median(b, NR), median(r, NR)
  }' "$out"
