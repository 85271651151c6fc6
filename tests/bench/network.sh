#!/usr/bin/env bash
# BE egress limiting on loopback, in a network namespace of its own:
#   1. LS request/response latency (p50/p99) over lo while a BE bulk TCP sender
#      runs: LS alone, BE without colo, BE held to HIGH by colo, BE at LOW
#      (colo with LS above the watermark).
#   2. BE throughput achieved vs the configured rate, for each rate in RATES.
#   3. Reaction: from LS traffic starting (above the watermark) to the BE rate
#      falling to the low bound, REACT_RUNS times.
# Root only. Needs iproute2 (ip, tc), curl, nsenter, awk, and a build
# (build/colo, build/tests/colo_test_load). Prints results; exit 0 whenever
# it could measure. Touches only what it creates: the netns colo-bench-net-PID,
# the v2 cgroups colo-bench-net-PID/{box,ls,sink}, /sys/fs/bpf/colo-bench-net-PID
# and /tmp/colo-bench-net-PID, all removed at exit (also on Ctrl-C).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COLO=${COLO:-$ROOT/build/colo}
LOAD=${LOAD:-$ROOT/build/tests/colo_test_load}
DUR=${DUR:-5}                      # seconds per latency run
RR_SIZE=${RR_SIZE:-1000}           # bytes per request and per response
HIGH=${HIGH:-20mbps}               # BE limit while LS is quiet (tc units)
LOW=${LOW:-4mbps}                  # BE limit while LS is above the watermark
WATERMARK=${WATERMARK:-10mbps}
RATES=${RATES:-"1mbps 10mbps 50mbps 200mbps"}
REACT_RUNS=${REACT_RUNS:-5}
ROUNDS=${ROUNDS:-3}                # latency rounds per case

[[ $(id -u) -eq 0 ]] || { echo "network.sh: run as root" >&2; exit 1; }
[[ -x $COLO && -x $LOAD ]] || { echo "network.sh: build first ($COLO, $LOAD)" >&2; exit 1; }

ID=colo-bench-net-$$
NS=$ID
TMP=/tmp/$ID
PIN=/sys/fs/bpf/$ID
if [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
  V2=/sys/fs/cgroup/unified
else
  V2=/sys/fs/cgroup
fi
CG=$V2/$ID
PORT=9811
AGENT_PID=""
BG_PIDS=()

cleanup() {
  set +e
  [[ -n $AGENT_PID ]] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for d in box ls sink; do
    [[ -f $CG/$d/cgroup.procs ]] || continue
    for p in $(cat "$CG/$d/cgroup.procs"); do kill -KILL "$p" 2>/dev/null; done
  done
  sleep 0.2
  for d in box ls sink; do rmdir "$CG/$d" 2>/dev/null; done
  rmdir "$CG" 2>/dev/null
  ip netns delete "$NS" 2>/dev/null
  "$COLO" bpf cleanup --bpf-pin-dir "$PIN" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

mkdir -p "$TMP"
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$CG/box" "$CG/ls" "$CG/sink"

# bytes/s of a tc rate ("20mbps", "160mbit")
bps() {
  awk -v r="$1" 'BEGIN { n = r + 0; u = r; sub(/^[0-9.]+/, "", u);
    m["bit"]=1/8; m["kbit"]=1e3/8; m["mbit"]=1e6/8; m["gbit"]=1e9/8;
    m["bps"]=1; m["kbps"]=1e3; m["mbps"]=1e6; m["gbps"]=1e9; printf "%.0f", n * m[u] }'
}

# in CGROUP CMD...: runs CMD in the namespace, inside the given v2 cgroup.
in_cg() {
  local cg=$1; shift
  sh -c 'echo $$ > "$0/cgroup.procs" && exec nsenter --net=/run/netns/'"$NS"' "$@"' "$CG/$cg" "$@"
}

start_agent() {  # high low watermark
  cat > "$TMP/colo.yaml" <<CFG
agent:
  metrics_addr: 127.0.0.1:$PORT
  socket: $TMP/colo.sock
  collect_interval: 100ms
cgroup:
  manage_bigbox: false
  bigbox: /$ID/box
bpf:
  pin_dir: $PIN
network:
  interfaces: [lo]
  limit:
    enabled: true
    high: $1
    low: $2
    ls_watermark: $3
    window: 30ms
    hold: 300ms
CFG
  nsenter --net=/run/netns/"$NS" "$COLO" agent --config "$TMP/colo.yaml" >"$TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 200); do
    nsenter --net=/run/netns/"$NS" curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  sleep 0.3  # the class map is filled at the first collections
}

stop_agent() {
  kill -TERM "$AGENT_PID"
  wait "$AGENT_PID" || true
  AGENT_PID=""
}

# rate FILE FROM TO: bytes/s a sink series got between FROM and TO seconds
# after its first byte.
rate() {
  awk -v a="$2" -v b="$3" '{ t[NR] = $1 / 1e9; v[NR] = $2; if (!t0 && $2 > 0) t0 = t[NR] }
    END { for (i = 1; i <= NR; i++) { if (t[i] <= t0 + a) x = v[i]; if (t[i] <= t0 + b) y = v[i] }
          printf "%.0f", (y - x) / (b - a) }' "$1"
}

echo "colo network benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "colo at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?"), HIGH=$HIGH LOW=$LOW WATERMARK=$WATERMARK"
echo

# ---------------------------------------------------------------- 1. latency
in_cg ls "$LOAD" rr-server 7100 >/dev/null 2>&1 &
BG_PIDS+=($!)
sleep 0.2

# One latency run: prints "p50 p99 max requests be_bytes_per_s".
latency_run() {  # with_be
  local be_rate=0
  if [[ $1 == 1 ]]; then
    in_cg sink "$LOAD" tcp-sink 7101 $((DUR + 1)) >"$TMP/be_sink" &
    local sink=$!
    in_cg box "$LOAD" tcp-send 7101 "$DUR" >/dev/null &
    local snd=$!
    sleep 0.3
  fi
  local out
  out=$(in_cg ls "$LOAD" rr-client 7100 $((DUR - 1)) "$RR_SIZE")
  if [[ $1 == 1 ]]; then
    wait "$snd" "$sink" || true
    be_rate=$(rate "$TMP/be_sink" 0.5 $((DUR - 1)))
  fi
  # "requests N p50_us X p99_us Y max_us Z"
  set -- $out
  echo "$4 $6 $8 $2 $be_rate"
}

CASES=("LS alone" "BE bulk sender, no colo" "BE bulk, colo: BE at high ($HIGH)"
       "BE bulk, colo: LS above watermark, BE at low ($LOW)"
       "LS alone, colo's HTB installed (LS through its direct queue)")
case_run() {  # index
  case $1 in
    0) latency_run 0 ;;
    1) latency_run 1 ;;
    2) start_agent "$HIGH" "$LOW" 100gbit; latency_run 1; stop_agent ;;
    3) start_agent "$HIGH" "$LOW" 1kbit; latency_run 1; stop_agent ;;
    4) start_agent "$HIGH" "$LOW" 100gbit; latency_run 0; stop_agent ;;
  esac
}

echo "## 1. LS request latency over lo (${RR_SIZE}-byte request/response, $((DUR - 1)) s per run, $ROUNDS rounds, cases alternating; medians)"
echo
for r in $(seq "$ROUNDS"); do
  for c in 0 1 2 3 4; do case_run $c >>"$TMP/lat$c"; done
done
echo "| case | p50 µs | p99 µs | p99 of each round µs | requests/s | BE throughput |"
echo "|---|---|---|---|---|---|"
for c in 0 1 2 3 4; do
  awk -v name="${CASES[$c]}" -v dur=$((DUR - 1)) '
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                                       if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                                     return a[int((n + 1) / 2)] }
    { p50[NR] = $1; p99[NR] = $2; sep = NR > 1 ? ", " : ""; all = all sep $2; rq[NR] = $4; be[NR] = $5 }
    END { b = med(be, NR); bs = "-"; if (b > 0) bs = sprintf("%.1f MB/s", b / 1e6)
          printf "| %s | %.1f | %.1f | %s | %.0f | %s |\n", name, med(p50, NR), med(p99, NR), all,
                 med(rq, NR) / dur, bs }' "$TMP/lat$c"
done
echo

# ---------------------------------------------------------------- 2. accuracy
echo "## 2. BE throughput vs the configured rate (one unpaced TCP sender, 3 s measured)"
echo
echo "| configured | achieved | achieved / configured |"
echo "|---|---|---|"
for r in $RATES; do
  start_agent "$r" "$r" 100gbit
  in_cg sink "$LOAD" tcp-sink 7102 4.5 >"$TMP/acc" &
  sink=$!
  in_cg box "$LOAD" tcp-send 7102 4 >/dev/null &
  wait $! $sink || true
  stop_agent
  got=$(rate "$TMP/acc" 0.5 3.5)
  want=$(bps "$r")
  awk -v r="$r" -v g="$got" -v w="$want" 'BEGIN { printf "| %s (%.2f MB/s) | %.3f MB/s | %.3f |\n", r, w / 1e6, g / 1e6, g / w }'
done
echo

# ---------------------------------------------------------------- 3. reaction
LSRATE=$(( $(bps "$WATERMARK") * 3 ))
LOWB=$(bps "$LOW")
echo "## 3. Reaction: LS starts at 3x the watermark ($((LSRATE / 1000000)) MB/s); time until BE sent ≤ 1.5x LOW over 50 ms"
echo
start_agent "$HIGH" "$LOW" "$WATERMARK"
reactions=()
for i in $(seq "$REACT_RUNS"); do
  in_cg sink "$LOAD" tcp-sink 7103 3 >"$TMP/rb" &
  s1=$!
  in_cg sink "$LOAD" tcp-sink 7104 3 >"$TMP/rl" &
  s2=$!
  in_cg box "$LOAD" tcp-send 7103 2.5 >/dev/null &
  sleep 1
  in_cg ls "$LOAD" tcp-send 7104 0.7 "$LSRATE" >/dev/null &
  wait $s1 $s2 || true
  ms=$(awk -v low="$LOWB" 'FNR == 1 { f++ }
      f == 1 { if (!ls0 && $2 > 0) ls0 = $1 / 1e9; next }
      { t[++n] = $1 / 1e9; v[n] = $2 }
      function at(x,   i, r) { r = 0; for (i = 1; i <= n; i++) { if (t[i] > x) break; r = v[i] } return r }
      END { if (!ls0) { print "nan"; exit }
            for (x = ls0; x < ls0 + 1; x += 0.01)
              if ((at(x + 0.05) - at(x)) / 0.05 <= 1.5 * low) { printf "%.0f", (x - ls0) * 1000; exit }
            print "nan" }' "$TMP/rl" "$TMP/rb")
  reactions+=("$ms")
  sleep 0.5  # hold: BE back at high before the next run
done
stop_agent
printf "runs (ms, 10 ms sampling): %s\n" "${reactions[*]}"
printf "%s\n" "${reactions[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "median %s ms, max %s ms (goal ≤ 100 ms)\n", a[int((NR + 1) / 2)], a[NR] }'
