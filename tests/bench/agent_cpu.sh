#!/usr/bin/env bash
# What the agent itself spends of a CPU (all threads, from their
# /proc/PID/task/*/schedstat) over SECONDS, with its box idle and with one BE task
# spinning in it. Not a test: it prints what it measured. Root only; v1 or
# hybrid cgroups (the cpu controller on its own hierarchy), as this VM.
#
#   tests/bench/agent_cpu.sh [SECONDS]            (20; uses build/colo)
#   COLO=/path/to/colo tests/bench/agent_cpu.sh
#
# The agent runs with --dry-run, its big box a cgroup this script creates
# (colo-cpu-bench-$$/box in the cpu, cpuset and memory hierarchies and the
# unified one, bigbox_create: false), its own port, socket and pin directory.
# Everything it creates is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
COLO=${COLO:-build/colo}
SECONDS_=${1:-20}
die() { echo "agent_cpu.sh: $*" >&2; exit 1; }
[[ $(id -u) = 0 ]] || die "needs root"
[[ -x $COLO ]] || die "no $COLO (build it first)"
CG=/sys/fs/cgroup
[[ -d $CG/cpu && -d $CG/cpuset && -d $CG/memory ]] || die "needs the v1 cpu, cpuset and memory hierarchies"

NAME=colo-cpu-bench-$$
WORK=$(mktemp -d /tmp/$NAME.XXXX)
PIN=/sys/fs/bpf/$NAME
AGENT=
HOG=
cleanup() {
  set +e
  if [[ -n $HOG ]]; then kill "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null; fi
  if [[ -n $AGENT ]]; then kill "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null; fi
  "$COLO" bpf cleanup --bpf-pin-dir "$PIN" >/dev/null 2>&1 || true
  for h in cpu cpuset memory unified; do
    rmdir "$CG/$h/$NAME/box/be" "$CG/$h/$NAME/box" "$CG/$h/$NAME" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for h in cpu cpuset memory unified; do
  [[ -d $CG/$h ]] || continue
  mkdir -p "$CG/$h/$NAME/box"
  if [[ $h = cpuset ]]; then
    for d in "$CG/cpuset/$NAME" "$CG/cpuset/$NAME/box"; do
      cat "$CG/cpuset/cpuset.cpus" >"$d/cpuset.cpus"
      cat "$CG/cpuset/cpuset.mems" >"$d/cpuset.mems"
    done
  fi
done
printf 'cgroup:\n  bigbox: /%s/box\n  bigbox_create: false\nnetwork:\n  interfaces: []\n' "$NAME" >"$WORK/colo.yaml"
port=19300
while ss -Htln "sport = :$port" | grep -q .; do port=$((port + 1)); done

"$COLO" agent --config "$WORK/colo.yaml" --dry-run --metrics-addr "127.0.0.1:$port" \
  --socket "$WORK/colo.sock" --bpf-pin-dir "$PIN" >"$WORK/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  kill -0 "$AGENT" 2>/dev/null || { cat "$WORK/agent.log" >&2; die "the agent exited"; }
  sleep 0.1
done
sleep 3

# CPU time of all its threads in ns (schedstat: exact, where /proc/PID/stat
# counts 10 ms ticks, a tenth of what the agent spends idle over 20 s).
ticks() { cat /proc/"$AGENT"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }
pct() { awk -v t="$1" -v s="$SECONDS_" 'BEGIN { printf "%.3f", 100 * t / 1e9 / s }'; }
fast() { "$COLO" status -o json --socket "$WORK/colo.sock" | jq -c '.control.fast_path // "none"'; }

echo "== $COLO agent CPU over ${SECONDS_}s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
a=$(ticks); sleep "$SECONDS_"; b=$(ticks)
echo "box idle:        $(pct $((b - a)))% of a CPU   fast path: $(fast)"

mkdir -p "$CG/cpu/$NAME/box/be"
( echo "$BASHPID" >"$CG/cpu/$NAME/box/be/cgroup.procs"; exec sh -c 'while :; do :; done' ) &
HOG=$!
sleep 2
a=$(ticks); sleep "$SECONDS_"; b=$(ticks)
echo "a BE task spins: $(pct $((b - a)))% of a CPU   fast path: $(fast)"
