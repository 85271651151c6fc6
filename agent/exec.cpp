#include "agent/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "userspace/cgroup/bigbox.h"
#include "userspace/util/fs.h"
#include "userspace/util/log.h"
#include "userspace/util/parse.h"

namespace colo {
namespace {

volatile sig_atomic_t g_child = 0;

void forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

// A task on its way out: in do_exit (PF_EXITING in /proc/PID/stat's flags),
// a zombie, or SIGKILL pending (a fatal signal's default action queues
// SIGKILL for every thread of the process; it leaves the pending set when
// the thread starts to exit, and PF_EXITING is set then). In a box cut to its
// floor beside busy LS, such a task may wait seconds for the CPU time it
// needs to exit.
bool exiting(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto stat = read_file(dir + "/stat");
  if (!stat) return true;  // gone
  constexpr unsigned long kPfExiting = 0x4;
  auto f = parse_proc_stat_fields(*stat);  // [0] state, [6] flags
  if (!f.empty() && (f[0] == "Z" || f[0] == "X")) return true;
  if (f.size() > 6 && (strtoul(std::string(f[6]).c_str(), nullptr, 10) & kPfExiting)) return true;
  auto status = read_file(dir + "/status");
  if (!status) return true;
  constexpr unsigned long long kSigkill = 1ull << (SIGKILL - 1);
  for (auto line : split(*status, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    const std::string value(trim(line.substr(colon + 1)));
    if ((key == "SigPnd" || key == "ShdPnd") && (strtoull(value.c_str(), nullptr, 16) & kSigkill))
      return true;
  }
  return false;
}

// Removes the job's cgroup once what the command started has exited. Waits
// while the tasks left are all exiting (an eviction signals every task of the
// job at once, and the command itself is often reaped first), at most
// `limit_s`; gives up after a second when one of them lives on (something
// the job left running: its cgroup stays with it), and names it in
// `*lives_on`.
bool remove_job_when_empty(BigBox& box, const std::string& job, double limit_s,
                           std::string* lives_on) {
  const int steps = static_cast<int>(limit_s / 0.02);
  for (int i = 0;; i++) {
    if (box.remove_job(job)) return true;
    if (i >= steps) return false;
    // For the first second, anything: the signals of an eviction may still be
    // on their way to the other tasks (the command can be reaped first).
    // After that, only tasks that are exiting.
    auto tasks = box.job_tasks(job);
    if (i >= 50) {
      if (tasks.empty()) return false;  // not tasks: e.g. a cgroup below it
      for (pid_t p : tasks)
        if (!exiting(p)) {
          auto comm = read_line("/proc/" + std::to_string(p) + "/comm");
          *lives_on = "pid " + std::to_string(p) + (comm ? " (" + *comm + ")" : std::string());
          return false;
        }
    }
    usleep(20 * 1000);
  }
}

}  // namespace

int run_exec(const Config& cfg, const std::vector<std::string>& argv, const ExecOptions& opts) {
  if (argv.empty()) {
    fprintf(stderr, "colo exec: no command given (colo exec -- CMD ARGS...)\n");
    return 125;
  }
  std::string err;
  auto layout = CgroupLayout::discover(cfg.cgroup.root, &err);
  if (!layout) {
    fprintf(stderr, "colo exec: cannot find cgroup hierarchies under %s: %s\n",
            cfg.cgroup.root.c_str(), err.c_str());
    return 125;
  }
  BigBox::Options o;
  o.rel_path = cfg.cgroup.bigbox;
  o.rel_path_for = cfg.cgroup.bigbox_paths;
  o.create = cfg.cgroup.bigbox_create;
  auto box = BigBox::open(*layout, o, &err);
  if (!box) {
    fprintf(stderr, "colo exec: %s\n", err.c_str());
    return 125;
  }
  // A box no agent has limited yet (just created, or made by hand) would run
  // this job unlimited at the default weight: give it the safe state first,
  // as a stopped agent leaves it. A running agent grows it from there.
  if (cfg.cgroup.manage_bigbox && !box->cpu_quota_cores()) {
    box->set_min_weight();
    if (box->set_cpu_quota(BigBox::kFloorCores) == 0)
      fprintf(stderr, "colo exec: the big box had no CPU limit (no agent has managed it yet); "
                      "it runs at the minimum (%.2f cores) until `colo agent` grows it\n",
              BigBox::kFloorCores);
  }
  const std::string job = opts.job.empty() ? "exec-" + std::to_string(getpid()) : opts.job;
  if (!box->create_job(job, opts.priority, &err)) {
    fprintf(stderr, "colo exec: %s\n", err.c_str());
    return 125;
  }
  const auto procs = box->job_procs_files(job);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    perror("colo exec: pipe");
    return 125;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("colo exec: fork");
    return 125;
  }
  if (pid == 0) {
    close(report[0]);
    // Join the job before exec, so not one instruction of it runs outside.
    std::string self = std::to_string(getpid());
    for (auto& f : procs) {
      if (int e = write_file(f, self)) {
        dprintf(report[1], "cannot join the big box (%s): %s", f.c_str(), strerror(-e));
        _exit(125);
      }
    }
    write_file("/proc/self/oom_score_adj", "1000");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    dprintf(report[1], "cannot run %s: %s", argv[0].c_str(), strerror(errno));
    _exit(127);
  }
  close(report[1]);
  g_child = pid;
  struct sigaction sa {};
  sa.sa_handler = forward;
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(s, &sa, nullptr);
  char msg[512] = {};
  ssize_t n = read(report[0], msg, sizeof(msg) - 1);
  close(report[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  // The job's cgroup goes with it (kept while something it started lives on).
  timespec t0{}, t1{};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  std::string lives_on;
  const bool removed = remove_job_when_empty(*box, job, 60, &lives_on);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double waited = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  if (waited >= 1)
    fprintf(stderr, "colo exec: job %s: its tasks took %.1f s to exit\n", job.c_str(), waited);
  if (!removed)
    fprintf(stderr, "colo exec: job %s still has tasks%s; its cgroup stays\n", job.c_str(),
            lives_on.empty() ? "" : (" (" + lives_on + " lives on)").c_str());
  if (n > 0) {
    fprintf(stderr, "colo exec: %s\n", msg);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 125;
}

}  // namespace colo
