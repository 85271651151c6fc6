// colo_bench_floor: what the cheapest sched_switch programs cost per run on
// this machine, by the kernel's run-time stats (the numbers colo's own cost is
// measured with in overhead.sh): empty, reading the two tasks' ids, one
// pid-keyed LRU hash lookup, one task storage lookup (see floor.bpf.c). Not a test: it prints what it
// measured. Root only.
//
//   colo_bench_floor [LOOPS]   runs `perf bench sched messaging -l LOOPS` (400)
//   colo_bench_floor pipe [ROUNDS [LOOPS [CPU]]]
//        `perf bench sched pipe -l LOOPS` (500000) throughput, ROUNDS (5) rounds
//        (with CPU: both tasks pinned there, `taskset -c CPU`: every op is two
//        context switches and two wakeups on one CPU, which is steadier)
//        alternating: no program; empty programs on sched_wakeup and
//        sched_switch; an empty sched_switch program alone; the wait read from
//        sched_info at switch-in alone (no wakeup program, no map); the least
//        a run-queue latency tracer with a wakeup program does (a timestamp
//        per wakeup into a pid-keyed hash, a lookup and a delete at
//        switch-in); and libbpf-tools runqlat (/usr/sbin/runqlat, if
//        installed), the same plus a histogram. BPF run-time stats stay off,
//        but for one more empty switch program side with them on (what colo
//        runs with: each program run then reads the clock twice).
//        Prints each side's median over no program: the empty sides are the
//        pipe throughput no tracer of that shape can beat on this machine.
//   colo_bench_floor layout [ROUNDS [LOOPS]]
//        a per-CPU state array written at every switch and read at wakeups by
//        other CPUs (colo_cpu), packed (128-byte values of a plain array, as
//        colo had it) and aligned (a mmapable array: page-aligned values, the
//        class read by others on a line of its own): both attached at once,
//        ROUNDS (3) rounds of `perf bench sched messaging -l LOOPS` (400) in
//        each attach order; prints ns/run per side and packed/aligned.
//   colo_bench_floor compare ROUNDS LOOPS PROG[,PROG...] PROG[,PROG...]
//        the same for any two sets of floor.bpf.c programs, A and B; also
//        ns of all of a side's programs per sched_switch (a side without a
//        wakeup program compares there, not per run).
//   colo_bench_floor migrations [LOOPS [CMD]]
//        over `perf bench sched messaging -l LOOPS` (400), or the shell
//        command CMD: switch-ins of a task, migrations, and migrations of a
//        task waiting on a run queue (whose wait so far a reader of
//        sched_info.last_queued does not see).
//   colo_bench_floor runqlat ROUNDS LOOPS PROG[,PROG...]
//        each sched_switch program of floor.bpf.c alone next to libbpf-tools
//        runqlat, attached before it and after it, as overhead.sh measures
//        colo: ns/run by position over ROUNDS rounds of `perf bench sched
//        messaging -l LOOPS`, and the mean of the two (what that benchmark
//        would read for a program that does only that).
// FLOOR_LOAD=CMD runs the shell command CMD instead of `perf bench sched
// messaging` wherever the run-time stats are taken (not in pipe mode).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

using colo::bench::load_floor_only;
using colo::bench::median;
using colo::bench::pipe_ops;
using colo::bench::start_runqlat;
using colo::bench::stop_runqlat;

struct Stat {
  unsigned long long ns = 0, runs = 0;
};

Stat stat_of(const bpf_program* p) {
  bpf_prog_info info = {};
  __u32 len = sizeof(info);
  Stat s;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) {
    s.ns = info.run_time_ns;
    s.runs = info.run_cnt;
  }
  return s;
}

// The load the run-time stats are taken over: `perf bench sched messaging
// -l LOOPS`, or the shell command in $FLOOR_LOAD (e.g. `taskset -c 1 perf
// bench sched pipe -l 200000`: two tasks, hot caches).
std::string load_name(int loops) {
  const char* env = getenv("FLOOR_LOAD");
  return env && *env ? std::string(env) : "perf bench sched messaging -l " + std::to_string(loops);
}

std::string load_cmd(int loops) { return load_name(loops) + " >/dev/null 2>&1"; }

int pipe_floor(int rounds, int loops, int cpu) {
  colo_floor* skel = load_floor_only(
      {"floor_wake_empty", "floor_switch_empty", "floor_wake_store", "floor_switch_take",
       "floor_switch_schedinfo"});
  if (!skel) return 1;
  struct Side {
    const char* name;
    std::vector<bpf_program*> progs;
    std::vector<double> ops;
    bool runqlat = false;
    bool stats = false;  // BPF run-time stats on for this side (what colo runs with)
  };
  std::vector<Side> sides = {
      {"no program", {}, {}},
      {"empty programs", {skel->progs.floor_wake_empty, skel->progs.floor_switch_empty}, {}},
      {"empty switch program only", {skel->progs.floor_switch_empty}, {}},
      {"the same, run-time stats on", {skel->progs.floor_switch_empty}, {}, false, true},
      {"sched_info wait at switch-in", {skel->progs.floor_switch_schedinfo}, {}},
      {"timestamp store + lookup/delete", {skel->progs.floor_wake_store, skel->progs.floor_switch_take}, {}}};
  if (access("/usr/sbin/runqlat", X_OK) == 0) sides.push_back({"libbpf-tools runqlat", {}, {}, true});
  printf("`%sperf bench sched pipe -l %d`, %d rounds, sides alternating (ops/s):\n",
         cpu >= 0 ? ("taskset -c " + std::to_string(cpu) + " ").c_str() : "", loops, rounds);
  for (int r = 1; r <= rounds; r++) {
    for (Side& s : sides) {
      std::vector<bpf_link*> links;
      bool ok = true;
      for (bpf_program* p : s.progs) {
        bpf_link* l = bpf_program__attach(p);
        if (!l) {
          fprintf(stderr, "colo_bench_floor: could not attach %s\n", bpf_program__name(p));
          ok = false;
          break;
        }
        links.push_back(l);
      }
      int stats_fd = -1;
      if (ok && s.stats && (stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0) {
        fprintf(stderr, "colo_bench_floor: could not enable BPF run-time stats (%d)\n", stats_fd);
        ok = false;
      }
      pid_t rq = -1;
      if (ok && s.runqlat && (rq = start_runqlat()) < 0) {
        fprintf(stderr, "colo_bench_floor: runqlat did not start\n");
        ok = false;
      }
      const double ops = ok ? pipe_ops(loops, cpu) : 0;
      if (rq > 0) stop_runqlat(rq);
      if (stats_fd >= 0) close(stats_fd);
      for (bpf_link* l : links) bpf_link__destroy(l);
      if (!ok) {
        colo_floor__destroy(skel);
        return 1;
      }
      s.ops.push_back(ops);
      printf("  round %d  %-32s %10.0f\n", r, s.name, ops);
      fflush(stdout);
    }
  }
  const double base = median(sides[0].ops);
  for (const Side& s : sides)
    printf("median  %-32s %10.0f ops/s  %.3f of no program\n", s.name, median(s.ops),
           base > 0 ? median(s.ops) / base : 0.0);
  colo_floor__destroy(skel);
  return base > 0 ? 0 : 1;
}

// Two sides of floor.bpf.c programs (program names), attached at once in
// each order for ROUNDS rounds; ns per run of each side (its programs
// together), and the ratio A/B per order: programs on one tracepoint run in
// attach order, and the first one pays for cache lines the second then finds
// warm, so only the same position compares.
int compare_floor(int rounds, int loops, const char* name_a, const std::vector<std::string>& a,
                  const char* name_b, const std::vector<std::string>& b) {
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    fprintf(stderr, "colo_bench_floor: could not enable BPF run-time stats (%d)\n", stats_fd);
    return 1;
  }
  std::vector<std::string> both = a;
  both.insert(both.end(), b.begin(), b.end());
  colo_floor* skel = load_floor_only(both);
  if (!skel) return 1;
  struct Side {
    const char* name;
    std::vector<bpf_program*> progs;
    std::vector<double> first, second;  // ns/run when attached first / second
    std::vector<double> per_switch[2];  // ns of all its programs per sched_switch, by position
  };
  std::vector<Side> sides = {{name_a, {}, {}, {}, {}}, {name_b, {}, {}, {}, {}}};
  for (int i = 0; i < 2; i++)
    for (const std::string& n : i == 0 ? a : b)
      sides[i].progs.push_back(bpf_object__find_program_by_name(skel->obj, n.c_str()));
  printf("%s vs %s under `%s`, both attached, ns/run:\n", name_a, name_b,
         load_name(loops).c_str());
  for (int r = 1; r <= rounds; r++) {
    for (int order = 0; order < 2; order++) {
      Side* seq[2] = {&sides[order], &sides[1 - order]};
      std::vector<bpf_link*> links;
      std::vector<Stat> before[2];
      for (int i = 0; i < 2; i++)
        for (bpf_program* q : seq[i]->progs) {
          bpf_link* l = bpf_program__attach(q);
          if (!l) {
            fprintf(stderr, "colo_bench_floor: could not attach %s\n", bpf_program__name(q));
            return 1;
          }
          links.push_back(l);
        }
      for (int i = 0; i < 2; i++)
        for (bpf_program* q : seq[i]->progs) before[i].push_back(stat_of(q));
      const std::string cmd = load_cmd(loops);
      if (system(cmd.c_str()) != 0) fprintf(stderr, "colo_bench_floor: '%s' failed\n", cmd.c_str());
      double v[2] = {0, 0}, sw[2] = {0, 0};
      for (int i = 0; i < 2; i++) {
        double ns = 0, runs = 0, switches = 0;
        for (size_t j = 0; j < seq[i]->progs.size(); j++) {
          Stat s = stat_of(seq[i]->progs[j]);
          ns += s.ns - before[i][j].ns;
          runs += s.runs - before[i][j].runs;
          if (strstr(bpf_program__section_name(seq[i]->progs[j]), "sched_switch"))
            switches = s.runs - before[i][j].runs;
        }
        v[i] = runs > 0 ? ns / runs : 0;
        sw[i] = switches > 0 ? ns / switches : 0;
        (i == 0 ? seq[i]->first : seq[i]->second).push_back(v[i]);
        seq[i]->per_switch[i].push_back(sw[i]);
      }
      for (bpf_link* l : links) bpf_link__destroy(l);
      const double va = order == 0 ? v[0] : v[1], vb = order == 0 ? v[1] : v[0];
      const double sa = order == 0 ? sw[0] : sw[1], sb = order == 0 ? sw[1] : sw[0];
      printf("  round %d, %-8s first: %-8s %7.1f  %-8s %7.1f  %s/%s %.3f  (per switch %.1f, %.1f)\n",
             r, seq[0]->name, name_a, va, name_b, vb, name_a, name_b, vb > 0 ? va / vb : 0.0, sa,
             sb);
      fflush(stdout);
    }
  }
  for (const char* pos : {"first", "second"}) {
    const bool f = pos[0] == 'f';
    const double ma = median(f ? sides[0].first : sides[0].second),
                 mb = median(f ? sides[1].first : sides[1].second);
    const double pa = median(sides[0].per_switch[f ? 0 : 1]),
                 pb = median(sides[1].per_switch[f ? 0 : 1]);
    printf("median attached %-6s: %-8s %7.1f  %-8s %7.1f ns/run  %s/%s %.3f;"
           "  per switch %.1f, %.1f ns  %.3f\n",
           pos, name_a, ma, name_b, mb, name_a, name_b, mb > 0 ? ma / mb : 0.0, pa, pb,
           pb > 0 ? pa / pb : 0.0);
  }
  colo_floor__destroy(skel);
  close(stats_fd);
  return 0;
}

// Each of `names` (sched_switch programs of floor.bpf.c), alone, next to
// libbpf-tools runqlat attached at the same time, as overhead.sh's section 1
// measures colo: attached before runqlat and after it, `rounds` times, each
// over one `perf bench sched messaging -l LOOPS`. Prints the program's ns/run
// at each position, and the mean of the two medians: what the issue's
// benchmark would read for a program that does only that.
int next_to_runqlat(int rounds, int loops, const std::vector<std::string>& names) {
  if (access("/usr/sbin/runqlat", X_OK) != 0) {
    fprintf(stderr, "colo_bench_floor: no /usr/sbin/runqlat\n");
    return 1;
  }
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    fprintf(stderr, "colo_bench_floor: could not enable BPF run-time stats (%d)\n", stats_fd);
    return 1;
  }
  colo_floor* skel = load_floor_only(names);
  if (!skel) return 1;
  std::vector<std::vector<double>> pos[2];  // [first/second][program] ns/run
  for (auto& p : pos) p.resize(names.size());
  printf("each program alone next to runqlat under `%s`, ns/run:\n", load_name(loops).c_str());
  for (int r = 1; r <= rounds; r++)
    for (size_t i = 0; i < names.size(); i++)
      for (int first = 1; first >= 0; first--) {
        bpf_program* p = bpf_object__find_program_by_name(skel->obj, names[i].c_str());
        bpf_link* l = nullptr;
        pid_t rq = -1;
        if (first) l = bpf_program__attach(p);
        rq = start_runqlat();
        if (!first) l = bpf_program__attach(p);
        if (!l || rq < 0) {
          fprintf(stderr, "colo_bench_floor: could not attach %s or start runqlat\n", names[i].c_str());
          if (rq > 0) stop_runqlat(rq);
          bpf_link__destroy(l);
          colo_floor__destroy(skel);
          return 1;
        }
        Stat before = stat_of(p);
        const std::string cmd = load_cmd(loops);
        if (system(cmd.c_str()) != 0) fprintf(stderr, "colo_bench_floor: '%s' failed\n", cmd.c_str());
        Stat after = stat_of(p);
        stop_runqlat(rq);
        bpf_link__destroy(l);
        const double runs = static_cast<double>(after.runs - before.runs);
        const double v = runs > 0 ? (after.ns - before.ns) / runs : 0;
        pos[first ? 0 : 1][i].push_back(v);
        printf("  round %d  %-24s %-6s %7.1f\n", r, names[i].c_str(), first ? "first" : "second", v);
        fflush(stdout);
      }
  printf("medians: program, attached first, second, mean of the two\n");
  for (size_t i = 0; i < names.size(); i++) {
    const double f = median(pos[0][i]), s2 = median(pos[1][i]);
    printf("  %-24s %7.1f %7.1f %7.1f ns/run\n", names[i].c_str(), f, s2, (f + s2) / 2);
  }
  colo_floor__destroy(skel);
  close(stats_fd);
  return 0;
}

// Switch-ins, migrations, and migrations of queued tasks over one command.
int count_migrations(const std::string& cmd) {
  colo_floor* skel = load_floor_only({"floor_migrate", "floor_count_switch"});
  if (!skel) return 1;
  if (colo_floor__attach(skel) != 0) {
    fprintf(stderr, "colo_bench_floor: could not attach floor.bpf.c\n");
    colo_floor__destroy(skel);
    return 1;
  }
  if (system((cmd + " >/dev/null 2>&1").c_str()) != 0)
    fprintf(stderr, "colo_bench_floor: '%s' failed\n", cmd.c_str());
  const double sw = skel->bss->floor_switches, mig = skel->bss->floor_migrations,
               queued = skel->bss->floor_queued_moves;
  printf("over `%s`: %.0f switch-ins of a task, %.0f migrations, %.0f of a queued task "
         "(%.2f%% of the switch-ins)\n",
         cmd.c_str(), sw, mig, queued, sw > 0 ? 100.0 * queued / sw : 0.0);
  colo_floor__destroy(skel);
  return 0;
}

std::vector<std::string> split_names(const char* s) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* c = s;; c++) {
    if (*c == ',' || *c == 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (!*c) break;
    } else {
      cur += *c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "colo_bench_floor: needs root\n");
    return 1;
  }
  if (argc > 1 && strcmp(argv[1], "pipe") == 0)
    return pipe_floor(argc > 2 ? atoi(argv[2]) : 5, argc > 3 ? atoi(argv[3]) : 500000,
                      argc > 4 ? atoi(argv[4]) : -1);
  if (argc > 1 && strcmp(argv[1], "layout") == 0)
    return compare_floor(argc > 2 ? atoi(argv[2]) : 3, argc > 3 ? atoi(argv[3]) : 400, "packed",
                         {"floor_wake_packed", "floor_switch_packed"}, "aligned",
                         {"floor_wake_aligned", "floor_switch_aligned"});
  if (argc > 1 && strcmp(argv[1], "migrations") == 0)
    return count_migrations(argc > 3 ? std::string(argv[3])
                                     : "perf bench sched messaging -l " +
                                           std::to_string(argc > 2 ? atoi(argv[2]) : 400));
  if (argc > 4 && strcmp(argv[1], "runqlat") == 0)
    return next_to_runqlat(atoi(argv[2]), atoi(argv[3]), split_names(argv[4]));
  if (argc > 5 && strcmp(argv[1], "compare") == 0)
    return compare_floor(atoi(argv[2]), atoi(argv[3]), "A", split_names(argv[4]), "B",
                         split_names(argv[5]));
  const int loops = argc > 1 ? atoi(argv[1]) : 400;
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    fprintf(stderr, "colo_bench_floor: could not enable BPF run-time stats (%d)\n", stats_fd);
    return 1;
  }
  colo_floor* skel = load_floor_only({"floor_empty", "floor_fields", "floor_lookup", "floor_storage"});
  if (!skel) return 1;
  // In this order: programs on one tracepoint run in attach order.
  std::vector<std::pair<const char*, bpf_program*>> progs = {
      {"empty", skel->progs.floor_empty},
      {"task ids", skel->progs.floor_fields},
      {"+ hash lookup", skel->progs.floor_lookup},
      {"task storage", skel->progs.floor_storage}};
  std::vector<bpf_link*> links;
  for (auto& [name, p] : progs) {
    bpf_link* l = bpf_program__attach(p);
    if (!l) {
      fprintf(stderr, "colo_bench_floor: could not attach %s\n", bpf_program__name(p));
      return 1;
    }
    links.push_back(l);
  }
  std::vector<Stat> before;
  for (auto& pr : progs) before.push_back(stat_of(pr.second));
  const std::string cmd = load_cmd(loops);
  if (system(cmd.c_str()) != 0) fprintf(stderr, "colo_bench_floor: '%s' failed\n", cmd.c_str());
  printf("sched_switch programs under `%s`, attach order:\n", load_name(loops).c_str());
  for (size_t i = 0; i < progs.size(); i++) {
    Stat a = stat_of(progs[i].second);
    const double runs = static_cast<double>(a.runs - before[i].runs);
    printf("  %-14s %10.0f runs  %7.1f ns/run\n", progs[i].first, runs,
           runs > 0 ? (a.ns - before[i].ns) / runs : 0.0);
  }
  for (auto* l : links) bpf_link__destroy(l);
  colo_floor__destroy(skel);
  close(stats_fd);
  return 0;
}
