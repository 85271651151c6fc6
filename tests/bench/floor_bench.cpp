// colo_bench_floor: what the cheapest sched_switch programs cost per run on
// this machine, by the kernel's run-time stats (the numbers colo's own cost is
// measured with in overhead.sh): empty, reading the two tasks' ids, one
// pid-keyed LRU hash lookup, one task storage lookup (see floor.bpf.c). Not a test: it prints what it
// measured. Root only.
//
//   colo_bench_floor [LOOPS]   runs `perf bench sched messaging -l LOOPS` (400)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "colo_floor.skel.h"

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "colo_bench_floor: needs root\n");
    return 1;
  }
  const int loops = argc > 1 ? atoi(argv[1]) : 400;
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    fprintf(stderr, "colo_bench_floor: could not enable BPF run-time stats (%d)\n", stats_fd);
    return 1;
  }
  colo_floor* skel = colo_floor__open_and_load();
  if (!skel) {
    fprintf(stderr, "colo_bench_floor: could not load floor.bpf.c (tp_btf needs BTF)\n");
    return 1;
  }
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
  const std::string cmd = "perf bench sched messaging -l " + std::to_string(loops) + " >/dev/null 2>&1";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "colo_bench_floor: '%s' failed\n", cmd.c_str());
  printf("sched_switch programs under `perf bench sched messaging -l %d`, attach order:\n", loops);
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
