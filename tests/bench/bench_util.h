// Helpers of the benchmarks that run `perf bench sched pipe`, libbpf-tools
// runqlat and floor.bpf.c's programs (colo_bench_floor, colo_bench_pipe).
#pragma once
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "colo_floor.skel.h"

namespace colo::bench {

// ops/s that `perf bench sched pipe -l LOOPS` reports; 0 if it did not run.
inline double pipe_ops(int loops, int cpu) {
  const std::string cmd = (cpu >= 0 ? "taskset -c " + std::to_string(cpu) + " " : std::string()) +
                          "perf bench sched pipe -l " + std::to_string(loops) + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return 0;
  char line[256];
  double ops = 0;
  while (fgets(line, sizeof(line), f)) {
    double v;
    if (strstr(line, "ops/sec") && sscanf(line, " %lf", &v) == 1) ops = v;
  }
  pclose(f);
  return ops;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// libbpf-tools runqlat with its programs attached (it prints "Tracing" then),
// until stop_runqlat(); -1 if it could not start.
inline pid_t start_runqlat() {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    // Line-buffered: its "Tracing" line would otherwise wait in stdio's buffer.
    execlp("stdbuf", "stdbuf", "-oL", "/usr/sbin/runqlat", "3600", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  FILE* f = fdopen(fds[0], "r");
  char line[256];
  bool tracing = false;
  while (f && fgets(line, sizeof(line), f))
    if (strstr(line, "Tracing")) {
      tracing = true;
      break;
    }
  if (f) fclose(f);  // runqlat writes nothing more until SIGINT (then EPIPE is fine)
  if (!tracing && pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

inline void stop_runqlat(pid_t pid) {
  kill(pid, SIGINT);
  waitpid(pid, nullptr, 0);
}

// floor.bpf.c loaded with the programs `names` only: each mode loads what it
// attaches, and needs nothing more of the kernel. nullptr after a message.
inline colo_floor* load_floor_only(const std::vector<std::string>& names) {
  colo_floor* skel = colo_floor__open();
  if (!skel) {
    fprintf(stderr, "colo bench: could not open floor.bpf.c\n");
    return nullptr;
  }
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) bpf_program__set_autoload(p, false);
  for (const std::string& n : names) {
    p = bpf_object__find_program_by_name(skel->obj, n.c_str());
    if (!p) {
      fprintf(stderr, "colo bench: no program %s in floor.bpf.c\n", n.c_str());
      colo_floor__destroy(skel);
      return nullptr;
    }
    bpf_program__set_autoload(p, true);
  }
  const int ncpus = libbpf_num_possible_cpus();
  bpf_map__set_max_entries(skel->maps.floor_cpu_packed, ncpus);
  bpf_map__set_max_entries(skel->maps.floor_cpu_aligned, ncpus);
  if (colo_floor__load(skel) != 0) {
    fprintf(stderr, "colo bench: could not load floor.bpf.c (tp_btf needs BTF)\n");
    colo_floor__destroy(skel);
    return nullptr;
  }
  return skel;
}

// The kernel's run-time stats (run_time_ns, run_cnt) summed over every loaded
// program whose name starts with `name` (the kernel keeps 15 characters).
struct ProgStats {
  unsigned long long ns = 0, runs = 0;
};
inline ProgStats prog_stats(const std::string& name) {
  ProgStats s;
  const std::string want = name.substr(0, 15);
  for (__u32 id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    const int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
        strncmp(info.name, want.c_str(), want.size()) == 0) {
      s.ns += info.run_time_ns;
      s.runs += info.run_cnt;
    }
    close(fd);
  }
  return s;
}

}  // namespace colo::bench
