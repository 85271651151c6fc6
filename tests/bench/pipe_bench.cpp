// colo_bench_pipe: `perf bench sched pipe` throughput with colo's BPF
// programs attached, against no program, in many short rounds. Not a test:
// it prints what it measured. Root only.
//
//   colo_bench_pipe [ROUNDS [LOOPS [CPU [SIDES]]]]   (defaults 40, 100000, 1, all)
//
// CPU -1: unpinned. SIDES: a comma-separated list of colo, colo-settled,
// colo-nostats, empty, empty-stats, runqlat, agent, agent-stopped,
// agent-stats-on (no program always runs; by default all but colo-settled
// and the agent's three).
//
// Each round runs `taskset -c CPU perf bench sched pipe -l LOOPS` once per
// side, the sides next to each other in time, their order rotated from round
// to round:
//   - no program;
//   - colo: its programs loaded and attached by bpf::Programs, as the agent
//     loads them (this host's cgroup layout, BPF run-time stats on, as while
//     the agent runs), then destroyed; the agent's userspace does not run
//     (its own CPU is section 3 of overhead.sh);
//   - colo-settled: the same, pipe run 2 s after the load, as the agent's
//     side waits 2 s after the agent is ready (what that wait costs);
//   - the same with the run-time stats off (what the stats cost colo);
//   - an empty sched_switch program (floor.bpf.c), stats off, and the same
//     with them on: what any sched_switch program costs pipe here;
//   - libbpf-tools runqlat (/usr/sbin/runqlat), if installed (stats off);
//   - agent: the colo agent itself ($COLO, default build/colo), started for
//     the run with its built-in configuration and --dry-run (its own port,
//     socket and pin directory), 2 s after it is ready, and stopped after:
//     the programs and the agent's userspace, what "colo attached" is on a
//     node;
//   - agent-stats-on: the same agent with its BPF run-time stats on
//     throughout (bpf.run_time_stats_window as long as the period), where
//     "agent" holds them a window of every period (1 s of 10 s): what the
//     sampling saves;
//   - agent-stopped: the same agent, stopped (SIGSTOP) while pipe runs: its
//     programs attached as it left them, its userspace not running. Beside
//     "agent" it tells what the agent's userspace costs pipe.
// PIPE_SETTLE=S (environment): every side but the agent's idles S s between
// its setup and its pipe run (the agent's sides always wait 2 s after ready).
// On this VM the throughput of one side moves by 10-20% from run to run
// (tests/bench/RESULTS.md), more than the 3% the pipe goal is about, and
// slowly: so each side is divided by the no-program run of its own round,
// and the median of those ratios is printed with a 95% bootstrap interval;
// so is each pair of sides divided round by round.
// The goal (>= 0.97) is read as met when the interval lies above it, not met
// when it lies below, and not decided otherwise. For the sides with the
// run-time stats on (colo, empty-stats, agent) it also prints what their
// sched_switch program itself cost a run over all their rounds: far less
// noisy than throughput, it shows where a change to the program moved it.
// The agent holds the stats only in its windows (bpf.run_time_stats_window
// of every period): its side counts the runs its windows caught, if any.
// Beside an empty program with stats on, it prints what the colo sides'
// program did beyond it a run, and that work's share of a pipe op: colo's
// own cost, without the stats' clock reads or what any program costs pipe.
#include <bpf/bpf.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "userspace/bpf/programs.h"
#include "userspace/cgroup/layout.h"

namespace {

using colo::bench::median;

struct Interval {
  double lo, mid, hi;
};

// The median of `v` and its 95% interval by bootstrap (2,000 resamples,
// fixed seed: the same data prints the same interval).
Interval median_interval(const std::vector<double>& v) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
  std::vector<double> meds, s(v.size());
  for (int b = 0; b < 2000; b++) {
    for (double& x : s) x = v[pick(rng)];
    meds.push_back(median(s));
  }
  std::sort(meds.begin(), meds.end());
  return {meds[meds.size() * 25 / 1000], median(v), meds[meds.size() * 975 / 1000]};
}

// colo's programs as the agent loads them on this host; nullptr after a message.
std::unique_ptr<colo::bpf::Programs> load_colo(const std::string& pin_dir, bool stats) {
  std::string err;
  auto layout = colo::CgroupLayout::discover("/sys/fs/cgroup", &err);
  if (!layout) {
    fprintf(stderr, "colo_bench_pipe: cgroup layout: %s\n", err.c_str());
    return nullptr;
  }
  colo::bpf::LoadOptions lo;
  lo.pin_dir = pin_dir;
  colo::bpf::set_cgroup_hierarchies(*layout, &lo);
  lo.quiet_self = true;
  lo.run_time_stats = stats;
  auto p = colo::bpf::Programs::load(lo, &err);
  if (!p) fprintf(stderr, "colo_bench_pipe: loading colo's programs: %s\n", err.c_str());
  return p;
}

// The colo agent `bin` started with --dry-run and its own port, socket and
// pin directory, 2 s after its /readyz answers; -1 after a message.
pid_t start_agent(const std::string& bin, const std::string& pin_dir, const std::string& sock,
                  int port, const std::string& config = "") {
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  fflush(nullptr);  // the child's freopen would write what stdout holds again
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    std::vector<const char*> argv = {bin.c_str(),  "agent",         "--dry-run",
                                     "--metrics-addr", addr.c_str(), "--socket",
                                     sock.c_str(),  "--bpf-pin-dir", pin_dir.c_str()};
    if (!config.empty()) argv.insert(argv.end(), {"--config", config.c_str()});
    argv.push_back(nullptr);
    execv(bin.c_str(), const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  const std::string probe = "curl -sf -o /dev/null http://" + addr + "/readyz";
  for (int i = 0; i < 300 && pid > 0; i++) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) break;
    if (system(probe.c_str()) == 0) {
      sleep(2);  // past its start (the first walks and collection): as it runs on a node
      return pid;
    }
    usleep(100000);
  }
  fprintf(stderr, "colo_bench_pipe: the agent (%s) did not get ready\n", bin.c_str());
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return -1;
}

void stop_agent(pid_t pid) {
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "colo_bench_pipe: needs root\n");
    return 1;
  }
  const int rounds = argc > 1 ? atoi(argv[1]) : 40;
  const int loops = argc > 2 ? atoi(argv[2]) : 100000;
  const int cpu = argc > 3 ? atoi(argv[3]) : 1;
  const std::string only = argc > 4 ? "," + std::string(argv[4]) + "," : "";
  if (rounds < 2 || loops < 1000) {
    fprintf(stderr, "usage: colo_bench_pipe [ROUNDS>=2 [LOOPS>=1000 [CPU [SIDES]]]]\n");
    return 2;
  }
  const std::string pin_dir = "/sys/fs/bpf/colo-bench-pipe-" + std::to_string(getpid());
  colo_floor* floor = colo::bench::load_floor_only({"floor_switch_empty"});
  if (!floor) return 1;
  enum Kind {
    kNone, kColo, kColoNoStats, kEmpty, kEmptyStats, kRunqlat, kAgent, kAgentFrozen, kColoSettled,
    kAgentStatsOn
  };
  const char* colo_env = getenv("COLO");
  const std::string agent_bin = colo_env && *colo_env ? colo_env : "build/colo";
  const std::string agent_pin = pin_dir + "-agent", agent_sock = "/tmp/colo-bench-pipe-" +
                                                                   std::to_string(getpid()) + ".sock";
  const int agent_port = 19400 + getpid() % 500;
  const char* settle_env = getenv("PIPE_SETTLE");
  const double settle_s = settle_env ? atof(settle_env) : 0;
  // agent-stats-on: the agent with its run-time stats window as long as the
  // period (on throughout, as before they were sampled).
  const std::string stats_on_config = "/tmp/colo-bench-pipe-" + std::to_string(getpid()) + ".yaml";
  if (only.find(",agent-stats-on,") != std::string::npos) {
    FILE* f = fopen(stats_on_config.c_str(), "w");
    if (!f) {
      perror(stats_on_config.c_str());
      return 1;
    }
    fputs("bpf:\n  run_time_stats_window: 10s\n  run_time_stats_period: 10s\n", f);
    fclose(f);
  }
  struct Side {
    const char* name;
    const char* key;  // in SIDES
    Kind kind;
    std::vector<double> ops, ratio;
    unsigned long long run_ns = 0, runs = 0;  // its sched_switch program, stats on
    double ns_a_run() const { return double(run_ns) / runs; }
  };
  std::vector<Side> all = {{"no program", "", kNone, {}, {}},
                           {"colo", "colo", kColo, {}, {}},
                           {"colo, stats off", "colo-nostats", kColoNoStats, {}, {}},
                           {"empty switch program", "empty", kEmpty, {}, {}},
                           {"empty, stats on", "empty-stats", kEmptyStats, {}, {}},
                           {"libbpf-tools runqlat", "runqlat", kRunqlat, {}, {}},
                           {"colo agent", "agent", kAgent, {}, {}},
                           {"colo agent, stopped", "agent-stopped", kAgentFrozen, {}, {}},
                           {"agent, stats always", "agent-stats-on", kAgentStatsOn, {}, {}},
                           {"colo, 2 s settled", "colo-settled", kColoSettled, {}, {}}};
  std::vector<Side> sides;
  for (Side& s : all) {
    const bool listed = only.find("," + std::string(s.key) + ",") != std::string::npos;
    if (s.kind != kNone && (only.empty() ? s.kind >= kAgent : !listed)) continue;
    if (s.kind == kRunqlat && access("/usr/sbin/runqlat", X_OK) != 0) continue;
    sides.push_back(s);
  }
  printf("`%sperf bench sched pipe -l %d`, %d rounds, the sides' order rotated (ops/s):\n",
         cpu >= 0 ? ("taskset -c " + std::to_string(cpu) + " ").c_str() : "", loops, rounds);
  printf("  columns:");
  for (const Side& s : sides) printf(" %s;", s.name);
  printf("\n");
  for (int r = 0; r < rounds; r++) {
    std::vector<double> ops(sides.size(), 0);
    for (size_t k = 0; k < sides.size(); k++) {
      const size_t i = (r + k) % sides.size();
      const Kind kind = sides[i].kind;
      std::unique_ptr<colo::bpf::Programs> colo;
      bpf_link* empty = nullptr;
      int stats_fd = -1;
      pid_t rq = -1;
      const bool colo_side = kind == kColo || kind == kColoSettled;
      if ((colo_side || kind == kColoNoStats) && !(colo = load_colo(pin_dir, kind != kColoNoStats)))
        return 1;
      if (kind == kColoSettled) sleep(2);
      if ((kind == kEmpty || kind == kEmptyStats) &&
          !(empty = bpf_program__attach(floor->progs.floor_switch_empty))) {
        fprintf(stderr, "colo_bench_pipe: could not attach the empty program\n");
        return 1;
      }
      if (kind == kEmptyStats && (stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0) {
        fprintf(stderr, "colo_bench_pipe: could not enable BPF run-time stats (%d)\n", stats_fd);
        return 1;
      }
      if (kind == kRunqlat && (rq = colo::bench::start_runqlat()) < 0) {
        fprintf(stderr, "colo_bench_pipe: runqlat did not start\n");
        return 1;
      }
      pid_t agent = -1;
      const bool agent_side = kind == kAgent || kind == kAgentFrozen || kind == kAgentStatsOn;
      if (agent_side && (agent = start_agent(agent_bin, agent_pin, agent_sock, agent_port,
                                             kind == kAgentStatsOn ? stats_on_config : "")) < 0)
        return 1;
      // PIPE_SETTLE=S: every other side idles S s between its setup and its
      // pipe run, as the agent's sides wait 2 s after the agent is ready.
      if (settle_s > 0 && !agent_side) usleep(static_cast<useconds_t>(settle_s * 1e6));
      // Its programs stay attached and its stats on; its userspace sleeps.
      if (kind == kAgentFrozen) kill(agent, SIGSTOP);
      // Its sched_switch program's own cost per run, where the stats are on.
      const char* prog = colo_side || agent_side ? "colo_switch_"
                         : kind == kEmptyStats           ? "floor_switch_empty"
                                                         : nullptr;
      const colo::bench::ProgStats before = prog ? colo::bench::prog_stats(prog)
                                                 : colo::bench::ProgStats{};
      ops[i] = colo::bench::pipe_ops(loops, cpu);
      if (prog) {
        const colo::bench::ProgStats after = colo::bench::prog_stats(prog);
        sides[i].run_ns += after.ns - before.ns;
        sides[i].runs += after.runs - before.runs;
      }
      if (agent > 0) {
        if (kind == kAgentFrozen) kill(agent, SIGCONT);
        stop_agent(agent);
        std::string e;
        colo::bpf::cleanup_pins(agent_pin, &e);
      }
      if (rq > 0) colo::bench::stop_runqlat(rq);
      if (stats_fd >= 0) close(stats_fd);
      if (empty) bpf_link__destroy(empty);
      if (colo) {
        colo.reset();
        std::string e;
        colo::bpf::cleanup_pins(pin_dir, &e);
      }
      if (ops[i] <= 0) {
        fprintf(stderr, "colo_bench_pipe: perf bench sched pipe did not run\n");
        return 1;
      }
    }
    printf("  round %2d", r + 1);
    for (size_t i = 0; i < sides.size(); i++) {
      sides[i].ops.push_back(ops[i]);
      sides[i].ratio.push_back(ops[i] / ops[0]);
      printf("  %.0f", ops[i]);
    }
    printf("\n");
    fflush(stdout);
  }
  const auto runs_an_op = [&](const Side& s) { return double(s.runs) / (double(loops) * rounds); };
  for (size_t i = 1; i < sides.size(); i++) {
    const Interval iv = median_interval(sides[i].ratio);
    const char* verdict = iv.lo >= 0.97 ? "met" : iv.hi < 0.97 ? "NOT met" : "not decided";
    printf("%-22s median %.0f ops/s; per round of no program: median %.3f, 95%% interval "
           "%.3f-%.3f (goal >= 0.97: %s)\n",
           sides[i].name, median(sides[i].ops), iv.mid, iv.lo, iv.hi, verdict);
    if (sides[i].runs)
      printf("%-22s its sched_switch program: %.1f ns a run, %.2f runs an op (run-time stats)\n",
             "", sides[i].ns_a_run(), runs_an_op(sides[i]));
  }
  printf("%-22s median %.0f ops/s\n", sides[0].name, median(sides[0].ops));
  // What colo's switch program does beyond an empty one, in time of a pipe
  // op: from the run-time stats, which are steady where throughput is not.
  // Only for the sides whose every run is counted (the agent's own side
  // holds the stats in windows), beside an empty program with stats on.
  const Side* floor_side = nullptr;
  for (const Side& s : sides)
    if (s.kind == kEmptyStats && s.runs) floor_side = &s;
  const double op_ns = 1e9 / median(sides[0].ops);
  for (const Side& s : sides) {
    if (!floor_side || !s.runs || (s.kind != kColo && s.kind != kColoSettled &&
                                   s.kind != kAgentStatsOn))
      continue;
    const double extra = s.ns_a_run() - floor_side->ns_a_run();
    const double per_op = extra * runs_an_op(s);
    printf("%s beyond an empty program: %.1f ns a run, %.0f ns an op: %.2f%% of an op with no "
           "program (%.0f ns)\n",
           s.name, extra, per_op, 100 * per_op / op_ns, op_ns);
  }
  // Two sides against each other, round by round (each round's pair ran
  // next to each other): what separates them, without no program's noise.
  for (size_t i = 1; i < sides.size(); i++)
    for (size_t j = i + 1; j < sides.size(); j++) {
      std::vector<double> r;
      for (size_t k = 0; k < sides[i].ops.size(); k++)
        r.push_back(sides[j].ops[k] / sides[i].ops[k]);
      const Interval iv = median_interval(r);
      printf("%s / %s, round by round: median %.3f, 95%% interval %.3f-%.3f\n", sides[j].name,
             sides[i].name, iv.mid, iv.lo, iv.hi);
    }
  colo_floor__destroy(floor);
  unlink(stats_on_config.c_str());
  return 0;
}
