#!/usr/bin/env bash
# Soak: the real agent driving a test-owned big box for SOAK_SECONDS (default
# one hour) under mixed load — a BE CPU hog and a BE memory holder in the box,
# LS bursts and a latency-sensitive waker next to it, and cgroup churn (cgroups
# created and removed continuously, a short task in some). Every SAMPLE_SECONDS
# (default 60) one CSV row: agent CPU (cores, over the interval), RSS (and its
# anonymous, file-backed and [heap] parts), open
# fds, tracked cgroups, metric series, entries of the pinned per-cgroup maps,
# events lost in the kernel (colo_bpf_events_lost_total, all sources but
# missed_switch, which the kernel side repairs), churned
# cgroups so far. Goal: flat
# lines, zero lost data.
#   sudo tests/bench/soak.sh                                  # 1 h, uses build/
#   sudo SOAK_SECONDS=180 SAMPLE_SECONDS=20 tests/bench/soak.sh
# Output: tests/bench/out/soak-<UTC time>.csv (and the agent log beside it).
# Everything it creates lives under one uniquely named cgroup per hierarchy
# (memory nested under this script's own memory cgroup) and is removed on
# exit, also on Ctrl-C; it signals only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) -eq 0 ]] || { echo "soak.sh: needs root" >&2; exit 1; }
SOAK_SECONDS=${SOAK_SECONDS:-3600}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-60}
CHURN_PER_SECOND=${CHURN_PER_SECOND:-100}
BUILD=${BUILD:-build}
COLO=$BUILD/colo
LOAD=$BUILD/tests/colo_test_load
for b in "$COLO" "$LOAD"; do [[ -x $b ]] || { echo "soak.sh: build $b first" >&2; exit 1; }; done
for t in bpftool curl; do command -v $t >/dev/null || { echo "soak.sh: needs $t" >&2; exit 1; }; done

name=colo-soak-$$
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p tests/bench/out
csv=tests/bench/out/soak-$stamp.csv
work=/tmp/$name
pins=/sys/fs/bpf/$name
mkdir -p "$work"

cg=/sys/fs/cgroup
own_mem=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
[[ $own_mem == / ]] && own_mem=
roots=("$cg/cpu/$name" "$cg/memory$own_mem/$name" "$cg/unified/$name")
cpuset_root=$cg/cpuset/$name
pids=()

mk() {  # mk REL: REL in every hierarchy (cpuset copies its parent's CPUs and nodes)
  for r in "${roots[@]}"; do mkdir -p "$r/$1"; done
  local d=$cpuset_root p
  for part in "" ${1//\// }; do
    [[ -n $part ]] && d=$d/$part
    p=$(dirname "$d")
    if [[ ! -d $d ]]; then
      mkdir "$d"
      cat "$p/cpuset.cpus" > "$d/cpuset.cpus"
      cat "$p/cpuset.mems" > "$d/cpuset.mems"
    fi
  done
}
# spawn REL CMD...: runs CMD inside REL (cpu, memory, unified, cpuset)
spawn() {
  local rel=$1
  shift
  ( for r in "${roots[@]}" "$cpuset_root"; do echo $BASHPID > "$r/$rel/cgroup.procs"; done
    exec "$@" ) &
  pids+=($!)
}
cleanup() {
  set +e
  [[ -n ${churn_pid:-} ]] && kill "$churn_pid" 2>/dev/null && wait "$churn_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  if [[ -n ${agent_pid:-} ]]; then kill -TERM "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  # Anything left in our cgroups is ours.
  for r in "${roots[@]}" "$cpuset_root"; do
    [[ -d $r ]] || continue
    find "$r" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  done
  sleep 0.5
  for r in "${roots[@]}" "$cpuset_root"; do
    [[ -d $r ]] && find "$r" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  "$COLO" bpf cleanup --bpf-pin-dir "$pins" >/dev/null 2>&1
  cp "$work/agent.log" "${csv%.csv}.agent.log" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mk box; mk ls; mk churn
rel_cpu=/$name/box
rel_mem=$own_mem/$name/box
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
cat > "$work/config.yaml" <<YAML
agent:
  collect_interval: 1s
cgroup:
  bigbox: $rel_cpu
  bigbox_create: false
  bigbox_paths:
    memory: $rel_mem
network:
  interfaces: []
policy:
  mode: static
  static:
    cpu_cores: 1.0
    memory: 1Gi
eviction:
  enabled: false
YAML
"$COLO" agent --config "$work/config.yaml" --metrics-addr 127.0.0.1:$port \
  --socket "$work/colo.sock" --bpf-pin-dir "$pins" > "$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "soak.sh: agent not ready" >&2; cat "$work/agent.log" >&2; exit 1; }

# Load. BE: a CPU hog and 256 MiB held; LS: a waker (latency-sensitive), and
# a two-second two-task burst every 15 s.
spawn box "$LOAD" hog "$SOAK_SECONDS" >/dev/null
spawn box "$LOAD" anon 256 "$SOAK_SECONDS" >/dev/null
spawn ls "$LOAD" waker 2000 200 "$SOAK_SECONDS" >/dev/null
( while :; do sleep 13; for _ in 1 2; do
    ( for r in "${roots[@]}" "$cpuset_root"; do echo $BASHPID > "$r/ls/cgroup.procs"; done
      exec "$LOAD" hog 2 ) >/dev/null & done; wait; done ) >/dev/null 2>&1 &
pids+=($!)
# Churn: CHURN_PER_SECOND cgroups a second in three hierarchies (perl, from
# perl-base: a shell would fork per mkdir), a short task in every tenth.
echo 0 > "$work/churned"
perl -MTime::HiRes -e '
  my ($rate, $count_file, @roots) = @ARGV;
  my $n = 0;
  $SIG{TERM} = sub { exit 0 };
  while (1) {
    my $t0 = Time::HiRes::time();
    for (1 .. 10) {
      $n++;
      my @dirs = map { "$_/churn/c$n" } @roots;
      mkdir $_ for @dirs;
      if ($n % 10 == 0) {
        my $pid = fork;
        if ($pid == 0) {
          for (@dirs) { open(my $f, ">", "$_/cgroup.procs") or next; print $f "$$\n"; close $f }
          exec "true";
          exit 1;
        }
        waitpid $pid, 0;
      }
      for my $d (@dirs) { for (1 .. 50) { last if rmdir $d; select(undef, undef, undef, 0.01) } }
    }
    open(my $f, ">", "$count_file.new"); print $f "$n\n"; close $f;
    rename "$count_file.new", $count_file;
    my $left = 10 / $rate - (Time::HiRes::time() - $t0);
    select(undef, undef, undef, $left) if $left > 0;
  }' "$CHURN_PER_SECOND" "$work/churned" "${roots[@]}" >/dev/null 2>&1 &
churn_pid=$!

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }
# Sum of a metric's samples over all label sets.
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}' "$work/metrics"; }
entries() { bpftool -j map dump pinned "$pins/$1" 2>/dev/null |
            perl -MJSON::PP -e 'my $j = eval { decode_json(join "", <STDIN>) }; print ref $j ? scalar @$j : -1'; }
echo "elapsed_s,agent_cpu_cores,rss_kib,rss_anon_kib,rss_file_kib,heap_kib,fds,tracked_cgroups,metric_series,cg_sched_entries,cg_mem_entries,aggr_entries,events_lost,churned_cgroups" > "$csv"
echo "soak: $SOAK_SECONDS s, a row every $SAMPLE_SECONDS s -> $csv" >&2
start=$(date +%s)
prev_t=$start
prev=$(cpu_ticks)
k=0
while :; do
  k=$((k + 1))
  wait_s=$((start + k * SAMPLE_SECONDS - $(date +%s)))
  (( wait_s > 0 )) && sleep "$wait_s"
  kill -0 "$agent_pid" 2>/dev/null || { echo "soak.sh: the agent died" >&2; tail -20 "$work/agent.log" >&2; exit 1; }
  now=$(date +%s)
  cur=$(cpu_ticks)
  curl -sf "http://127.0.0.1:$port/metrics" > "$work/metrics" || : > "$work/metrics"
  series=$(grep -vc '^#' "$work/metrics" || true)
  row="$((now - start)),$(awk -v d=$((cur - prev)) -v t="$ticks" -v s=$((now - prev_t)) 'BEGIN {printf "%.4f", (s > 0 ? d / t / s : 0)}')"
  # RSS split: anonymous (heap, arenas, stacks) vs file-backed (code and data
  # of the binary and its libraries, paged in as paths are first taken).
  row+=",$(awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s%s", (n++ ? "," : ""), $2}' /proc/$agent_pid/status)"
  row+=",$(awk '/ \[heap\]$/ {h = 1; next} /^[0-9a-f]+-/ {h = 0} h && /^Rss:/ {s += $2} END {print s + 0}' /proc/$agent_pid/smaps)"
  row+=",$(ls /proc/$agent_pid/fd | wc -l)"
  row+=",$(metric colo_tracked_cgroups),$series,$(entries colo_cg_sched),$(entries colo_cg_mem),$(entries colo_aggr)"
  row+=",$(($(metric colo_bpf_events_lost_total) - $(metric 'colo_bpf_events_lost_total{source="missed_switch"}'))),$(cat "$work/churned")"
  echo "$row" | tee -a "$csv"
  prev=$cur
  prev_t=$now
  (( now - start >= SOAK_SECONDS )) && break
done
echo "soak: done; $csv" >&2
