#!/usr/bin/env bash
# The control loop's benchmarks (issue 3), in one run each. Root only; builds
# nothing (build build/ first: tests/run.sh or cmake --build build).
#   tests/bench/control.sh                  # reaction + recovery (static and dynamic), isolation
#   SECTIONS="reaction" tests/bench/control.sh
# Environment: CYCLES=20 (reaction cycles), ISO_SECONDS=10 (per isolation phase),
#              BUILD=build, SECTIONS="reaction isolation",
#              REACTION_POLICIES="static dynamic" (also static:C, dynamic:W:R[:P:G], see
#              control_bench.cpp), ISO_POLICIES="dynamic" (the same, and quota:C: no
#              agent, the static best practice with a fixed quota of C cores),
#              ISO_ROUNDS=1 (every isolation row this many times; medians),
#              BENCH_AGENT_LOG=FILE (a copy of the agent log of a reaction run; of
#              isolation rows: FILE.ROUND.POLICY).
#   SECTIONS=mechanisms: MECH_ROWS="idle cpus:1 quota:1.0 quota:1.0@10ms cpus:1+quota:0.5
#              quota:0.5" (ways to hold BE back, no agent; one row may be colo:POLICY),
#              MECH_ROUNDS=8, MECH_SECONDS=3 (per phase), MECH_LOAD=0.5 (of nginx's peak).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
BENCH=$BUILD/tests/colo_bench_control
CYCLES=${CYCLES:-20}
ISO_SECONDS=${ISO_SECONDS:-10}
SECTIONS=${SECTIONS:-reaction isolation}
MECH_SECONDS=${MECH_SECONDS:-3}
REACTION_POLICIES=${REACTION_POLICIES:-static dynamic}
[[ $(id -u) -eq 0 ]] || { echo "control.sh: needs root" >&2; exit 1; }
[[ -x $BENCH ]] || { echo "control.sh: $BENCH not built" >&2; exit 1; }
missing=()
for p in nginx wrk stress-ng; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "control.sh: installing ${missing[*]}" >&2
  # Debian's nginx would start a system-wide server on port 80: keep package
  # scripts from starting services (only while installing, only if no policy).
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
fi
echo "# colo control benchmarks, $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SECTIONS; do
  case $s in
    reaction)
      for pol in $REACTION_POLICIES; do
        case $pol in
          static) echo; echo "## reaction and recovery, static policy (the control loop alone)" ;;
          dynamic) echo; echo "## reaction and recovery, built-in dynamic policy" ;;
          *) echo; echo "## reaction and recovery, policy $pol" ;;
        esac
        "$BENCH" reaction "$CYCLES" "$pol"
      done ;;
    isolation)
      echo; echo "## isolation: nginx + wrk with BE stress-ng"
      "$BENCH" isolation "$ISO_SECONDS" ;;
    mechanisms)
      echo; echo "## mechanisms: nginx at ${MECH_LOAD:-0.5} of its peak beside BE held back by each mechanism, interleaved"
      "$BENCH" mechanisms "$MECH_SECONDS" ;;
    *) echo "control.sh: unknown section $s" >&2; exit 2 ;;
  esac
done
