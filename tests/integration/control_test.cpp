// The control loop on a real (v1) big box: an LS burst cuts the box's CPU
// quota within milliseconds, the box grows back when the burst is over, the
// one switch works, and SIGTERM leaves the box in its safe state.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <cstring>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/privileged.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string control_config(const TestCgroups& cg) { return static_box_config(cg); }

double quota(AgentProcess& a) {
  return metric(a.scrape(), "colo_bigbox_cpu_quota_cores").value_or(-2);
}

// The box's CPU quota as the kernel has it, in cores (-1: unlimited, -2:
// unreadable). Polling this file costs next to nothing; scraping the agent
// every 10 ms would itself be a load beside the box (the test and the agent
// are not in it).
double kernel_quota(const TestCgroups& cg) {
  auto q = read_int(cg.cpu_dir("box") + "/cpu.cfs_quota_us");
  auto p = read_int(cg.cpu_dir("box") + "/cpu.cfs_period_us");
  if (!q || !p || *p <= 0) return -2;
  return *q < 0 ? -1 : static_cast<double>(*q) / *p;
}

// Polls until pred(kernel quota) or timeout; returns seconds waited or -1.
template <typename Pred>
double wait_quota(const TestCgroups& cg, Pred pred, double timeout_s) {
  auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < timeout_s) {
    if (pred(kernel_quota(cg))) return std::chrono::duration<double>(Clock::now() - start).count();
    sleep_ms(10);
  }
  return -1;
}

TEST(ControlLoop, LsBurstCutsTheBoxAndItGrowsBack) {
  COLO_REQUIRE_ROOT();
  // The box below a BE-only, idle parent; LS in another tree (as on a bare
  // host, where colo makes the levels it creates above the box so).
  TestCgroups cg, be_root;
  be_root.create("box");
  ASSERT_TRUE(make_be_only(be_root));
  cg.create("ls");
  AgentProcess agent(control_config(be_root));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  // Grows from the floor to its allowance (1.4 cores) while LS is quiet.
  ASSERT_GE(wait_quota(be_root, [](double q) { return q >= 1.3; }, 10), 0) << agent.log();
  ASSERT_GE(wait_quota(be_root, [](double q) { return q >= 1.399; }, 2), 0) << agent.log();
  EXPECT_EQ(read_line(be_root.cpu_dir("box") + "/cpu.cfs_quota_us"), "140000");
  EXPECT_NEAR(quota(agent), 1.4, 1e-6) << "the metric is what the kernel has";
  auto be = Child::spawn({load_binary(), "hog", "30"}, be_root.procs_files("box"));
  ASSERT_TRUE(be);

  // LS burst: two CPU-bound LS tasks.
  auto ls1 = Child::spawn({load_binary(), "hog", "3"}, cg.procs_files("ls"));
  auto ls2 = Child::spawn({load_binary(), "hog", "3"}, cg.procs_files("ls"));
  ASSERT_TRUE(ls1 && ls2);
  double cut = wait_quota(be_root, [](double q) { return q >= 0 && q <= 0.5; }, 3);
  ASSERT_GE(cut, 0) << "the box was not cut during the LS burst: " << agent.log();
  std::cout << "LS burst: box quota cut after " << cut * 1000 << " ms (polling at 10 ms)\n";
  auto s = agent.scrape();
  double reactions = metric(s, "colo_control_reaction_seconds_count", {{"trigger", "ls_demand"}})
                         .value_or(0) +
                     metric(s, "colo_control_reaction_seconds_count",
                            {{"trigger", "urgent_latency"}})
                         .value_or(0);
  EXPECT_GT(reactions, 0) << "each fast-path cut is timed: " << agent.log();
  // While the burst lasts the box stays small.
  sleep_ms(1000);
  EXPECT_LE(kernel_quota(be_root), 0.5) << agent.log();
  ASSERT_TRUE(ls1->wait(10000) && ls2->wait(10000));
  double back = wait_quota(be_root, [](double q) { return q >= 0.9 * 1.4; }, 10);
  ASSERT_GE(back, 0) << "the box did not grow back: " << agent.log();
  std::cout << "after the burst: box back to 90% in " << back << " s\n";

  // The one switch.
  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--socket", agent.socket_path()}, &out), 0) << out;
  EXPECT_GE(wait_quota(be_root, [](double q) { return q >= 0 && q <= 0.02; }, 2), 0)
      << agent.log();
  EXPECT_TRUE(be->running()) << "disable without --evict keeps the tasks";
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &out),
            0);
  EXPECT_NE(out.find("\"enabled\": false"), std::string::npos) << out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "enable", "--socket", agent.socket_path()}, &out), 0) << out;
  double regrow = wait_quota(be_root, [](double q) { return q >= 1.3; }, 10);
  std::cout << "after enable: back in " << regrow << " s\n";
  EXPECT_GE(regrow, 0) << agent.log();
  EXPECT_LE(regrow, 3) << "growth should not be interrupted without LS pressure: " << agent.log();

  // SIGTERM: the safe state (CPU floor; never unlimited).
  EXPECT_EQ(agent.stop(), 0);
  auto q = read_int(be_root.cpu_dir("box") + "/cpu.cfs_quota_us");
  ASSERT_TRUE(q);
  EXPECT_GT(*q, 0) << "never unlimited";
  EXPECT_LE(*q, 0.3 * 100000) << "the safe state is the CPU floor";
  auto lim = read_int(be_root.mem_dir("box") + "/memory.limit_in_bytes");
  EXPECT_EQ(lim.value_or(0), 512ll << 20) << "the memory limit stays";
}

// The fast path as `colo status` shows it (samples -1: unreadable).
struct FastPath {
  long samples = -1;
  bool armed = false;
  long be_wakes = -1;
};
FastPath fast_path(AgentProcess& a) {
  std::string out;
  if (run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", a.socket_path()}, &out) != 0)
    return {};
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("control") || !j["control"].contains("fast_path")) return {};
  const auto& f = j["control"]["fast_path"];
  return {f.value("samples", -1L), f.value("armed", false), f.value("be_wakes", -1L)};
}

// Beside a box whose BE runs nothing the agent reads LS demand every tick
// (100 ms), not every 2 ms; the first BE task to get a CPU wakes it through
// the kernel (a BE wake), and it samples every fast_interval again.
TEST(ControlLoop, TheFastPathSleepsWhileTheBoxIsIdle) {
  COLO_REQUIRE_ROOT();
  TestCgroups be_root;
  be_root.create("box");
  ASSERT_TRUE(make_be_only(be_root));
  AgentProcess agent(control_config(be_root));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  sleep_ms(500);
  const FastPath f0 = fast_path(agent);
  ASSERT_GE(f0.samples, 0) << "no fast_path in colo status: " << agent.log();
  EXPECT_FALSE(f0.armed) << "the box runs nothing";
  sleep_ms(2000);
  const FastPath f1 = fast_path(agent);
  std::cout << "idle box: " << f1.samples - f0.samples << " fast samples in 2 s\n";
  EXPECT_FALSE(f1.armed);
  EXPECT_LE(f1.samples - f0.samples, 40) << "about one per 100 ms tick, not one per 2 ms (1,000)";
  EXPECT_GE(f1.samples - f0.samples, 5) << "the demand is still read at every tick";
  EXPECT_EQ(f1.be_wakes, 0) << "no BE task ran";

  // A task that sleeps 50 ms, then spins: the agent learns of it from the
  // kernel when it first gets a CPU, not at the next sample.
  auto be = Child::spawn({"/bin/sh", "-c", "sleep 0.05; exec " + load_binary() + " hog 10"},
                         be_root.procs_files("box"));
  ASSERT_TRUE(be);
  FastPath f2;
  for (int i = 0; i < 100 && !f2.armed; i++) {
    sleep_ms(10);
    f2 = fast_path(agent);
  }
  ASSERT_TRUE(f2.armed) << "BE runs, but the fast path did not arm within 1 s: " << agent.log();
  EXPECT_GE(f2.be_wakes, 1) << "armed by sampling, not by the kernel's BE wake";
  sleep_ms(1000);
  const FastPath f3 = fast_path(agent);
  std::cout << "BE running: " << f3.samples - f2.samples << " fast samples in 1 s, "
            << f3.be_wakes << " BE wakes\n";
  EXPECT_TRUE(f3.armed);
  EXPECT_GE(f3.samples - f2.samples, 100) << "every 2 ms while BE runs (500 a second when idle)";
}

TEST(ControlLoop, DisableEvictSignalsOnlyBoxTasks) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  AgentProcess agent(control_config(cg));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto be = Child::spawn({"sleep", "60"}, cg.procs_files("box"));
  auto ls = Child::spawn({"sleep", "60"}, cg.procs_files("ls"));
  ASSERT_TRUE(be && ls);
  sleep_ms(200);
  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--evict", "--socket", agent.socket_path()}, &out),
            0)
      << out;
  auto st = be->wait(5000);
  ASSERT_TRUE(st) << "the BE task was not evicted";
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM);
  EXPECT_TRUE(ls->running()) << "an LS task outside the box is untouched";
  EXPECT_EQ(metric(agent.scrape(), "colo_evictions_total", {{"reason", "disabled"}}), 1.0);
}

}  // namespace
}  // namespace colo::test

namespace colo::test {
namespace {

// A BE memory hog is evicted when node memory crosses the watermark; an LS
// process outside the box is untouched. The watermark is set just above what
// the node uses now, so the hog crosses it with a few hundred MiB.
TEST(ControlLoop, MemoryWatermarkEvictsTheBeHog) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  auto ls = Child::spawn({"sleep", "60"}, cg.procs_files("ls"));
  ASSERT_TRUE(ls);
  double used = node_memory_used_fraction();
  // Trigger at +2% of node memory, release at +1%; the hog takes +4%.
  double trigger = used + 0.02, release = used + 0.01;
  uint64_t hog_mib = node_memory_total_mib() * 4 / 100;
  char ev[256];
  snprintf(ev, sizeof(ev),
           "eviction:\n  enabled: true\n  cooldown: 5s\n"
           "  memory: {trigger: %.4f, release: %.4f, sustain: 0s}\n",
           trigger, release);
  std::string cfg = static_box_config(cg, "512Mi", 0.10, ev);
  // The box's memory limit must not stop the hog before the node watermark.
  cfg.replace(cfg.find("memory: 512Mi"), 13, "memory: 8Gi");
  AgentProcess agent(cfg);
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto hog = Child::spawn({load_binary(), "anon", std::to_string(hog_mib), "60"},
                          cg.procs_files("box"));
  ASSERT_TRUE(hog);
  auto st = hog->wait(30000);
  ASSERT_TRUE(st) << "the BE hog was not evicted: " << agent.log();
  EXPECT_TRUE(WIFSIGNALED(*st)) << "evicted by a signal";
  EXPECT_TRUE(ls->running()) << "the LS process outside the box is untouched";
  EXPECT_EQ(metric(agent.scrape(), "colo_evictions_total", {{"reason", "memory"}}), 1.0);
  std::string out;
  run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &out);
  EXPECT_NE(out.find("evict BE task"), std::string::npos) << "the decision is explained: " << out;
}

// LS stalls reclaiming under a memory limit it shares with the box (as pods
// under kubepods): the agent lowers the box's memory limit below what BE
// holds, and gives it back after memory_pressure_hold. Both live below
// "shared", which has a 384 MiB limit; BE keeps ~160 MiB of page cache, LS
// writes 320 MiB through the page cache.
TEST(ControlLoop, LsReclaimUnderALimitSharedWithTheBoxShrinksTheBoxMemory) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("shared");
  cg.create("shared/box");
  cg.create("shared/ls");
  constexpr uint64_t kMiB = 1ull << 20;
  ASSERT_EQ(write_file(cg.mem_dir("shared") + "/memory.limit_in_bytes",
                       std::to_string(384 * kMiB)),
            0);
  std::string cfg = static_box_config(cg, "1Gi");
  for (const std::string& rel : {cg.cpu_rel("box"), cg.mem_rel("box")}) {
    const std::string to = rel.substr(0, rel.size() - 3) + "shared/box";
    for (auto at = cfg.find(rel + "\n"); at != std::string::npos; at = cfg.find(rel + "\n", at + 1))
      cfg.replace(at, rel.size(), to);
  }
  const std::string floor = "  floor: 0.20\n";
  cfg.insert(cfg.find(floor) + floor.size(), "  memory_pressure_hold: 2s\n");
  AgentProcess agent(cfg);
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string box_limit = cg.mem_dir("shared/box") + "/memory.limit_in_bytes";
  ASSERT_TRUE(eventually([&] { return read_int(box_limit).value_or(0) == int64_t(1024 * kMiB); },
                         5000))
      << "the colocatable 1 GiB first: " << read_line(box_limit).value_or("?") << agent.log();
  const std::string load = load_binary();
  const std::string dir = "/var/tmp/" + unique_name("colo-shared");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  auto be = Child::spawn({"sh", "-c", "while :; do " + load + " pagecache " + dir + "/be 160; done"},
                         cg.procs_files("shared/box"));
  ASSERT_TRUE(be);
  sleep_ms(1500);
  // First LS at its own limit (64 MiB): it stalls in reclaim too, but that
  // is not BE's doing, and the box keeps its memory.
  cg.create("own");
  ASSERT_EQ(write_file(cg.mem_dir("own") + "/memory.limit_in_bytes", std::to_string(64 * kMiB)), 0);
  auto own = Child::spawn({load, "pagecache", dir + "/own", "320"}, cg.procs_files("own"));
  ASSERT_TRUE(own);
  auto own_st = own->wait(60000);
  ASSERT_TRUE(own_st && WIFEXITED(*own_st) && WEXITSTATUS(*own_st) == 0);
  sleep_ms(500);  // a few collections
  EXPECT_EQ(read_int(box_limit).value_or(0), int64_t(1024 * kMiB))
      << "an LS cgroup at its own limit moved the box: " << agent.log();
  EXPECT_GT(metric(agent.scrape(), "colo_cgroup_memory_reclaim_stall_seconds_total",
                   {{"cgroup", cg.mem_rel("own")}})
                .value_or(0),
            0)
      << "the LS cgroup at its own limit did stall";
  auto ls = Child::spawn({"sh", "-c", "for i in 1 2 3; do " + load + " pagecache " + dir +
                                          "/ls 320 || exit 1; done"},
                         cg.procs_files("shared/ls"));
  ASSERT_TRUE(ls);
  const bool cut = eventually(
      [&] { return read_int(box_limit).value_or(INT64_MAX) < int64_t(384 * kMiB); }, 20000);
  std::string status;
  run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &status);
  auto st = ls->wait(60000);
  be->kill(SIGKILL);
  be->wait(5000);
  run_cmd({"rm", "-rf", dir});
  ASSERT_TRUE(cut) << "the box's memory limit stayed at " << read_line(box_limit).value_or("?")
                   << ": " << agent.log() << status;
  EXPECT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "LS finished its writes";
  EXPECT_NE(status.find("memory pressure: LS tasks stalled"), std::string::npos) << status;
  EXPECT_NE(status.find(cg.mem_rel("shared") + " hit its memory limit"), std::string::npos)
      << status;
  // No more LS stall: after the 2 s hold the limit is the colocatable 1 GiB again.
  EXPECT_TRUE(eventually([&] { return read_int(box_limit).value_or(0) == int64_t(1024 * kMiB); },
                         10000))
      << read_line(box_limit).value_or("?") << agent.log();
  EXPECT_NE(agent.log().find("memory pressure over"), std::string::npos) << agent.log();
  // The box's own reclaim is BE's, never counted as LS stall.
  EXPECT_EQ(agent.log().find("(most: " + cg.mem_rel("shared/box") + ")"), std::string::npos)
      << agent.log();
}

// `colo exec` runs each command in its own job cgroup below the box, in every
// hierarchy, and removes the job's cgroup when the command is done.
TEST(ControlLoop, ExecRunsEachCommandInItsOwnJobCgroup) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  std::string cfg_file = "/tmp/" + unique_name("colo-exec") + ".yaml";
  std::ofstream(cfg_file) << control_config(cg);
  std::string out;
  int rc = run_cmd({COLO_BINARY, "exec", "--config", cfg_file, "--job", "encode-1", "--priority",
                    "3", "--", "sh", "-c", "cat /proc/self/cgroup; cat /proc/self/oom_score_adj"},
                   &out);
  ASSERT_EQ(rc, 0) << out;
  const std::string job_cpu = cg.cpu_rel("box") + "/encode-1";
  EXPECT_NE(out.find(":cpu:" + job_cpu + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find(":memory:" + cg.mem_rel("box") + "/encode-1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("0::" + cg.v2_rel("box") + "/encode-1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\n1000\n"), std::string::npos) << "OOM-first: " << out;
  EXPECT_FALSE(is_dir(cg.cpu_dir("box") + "/encode-1")) << "the job's cgroup is removed after";
  EXPECT_FALSE(is_dir(cg.v2_dir("box") + "/encode-1"));
  // A job that leaves something running: colo exec returns after a second
  // (not the 60 s it gives tasks that are exiting), and the job's cgroup
  // stays with what lives on in it.
  auto t0 = Clock::now();
  rc = run_cmd({COLO_BINARY, "exec", "--config", cfg_file, "--job", "daemon", "--", "sh", "-c",
                "sleep 30 >/dev/null 2>&1 & echo $!"},
               &out);
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  unlink(cfg_file.c_str());
  EXPECT_EQ(rc, 0) << out;
  const pid_t left = static_cast<pid_t>(std::atoi(out.c_str()));
  ASSERT_GT(left, 0) << out;
  EXPECT_NE(read_file("/proc/" + std::to_string(left) + "/cgroup").value_or("").find(
                ":cpu:" + cg.cpu_rel("box") + "/daemon\n"),
            std::string::npos);
  EXPECT_NE(out.find("job daemon still has tasks (pid " + std::to_string(left) +
                     " (sleep) lives on); its cgroup stays"),
            std::string::npos)
      << out;
  EXPECT_TRUE(is_dir(cg.cpu_dir("box") + "/daemon"));
  EXPECT_LT(took, 5) << "a live task is not waited for";
  std::cout << "colo exec with a task left running returned after " << took << " s\n";
  kill(left, SIGKILL);
  for (int i = 0; i < 100 && kill(left, 0) == 0; i++) sleep_ms(20);
  // A bad job name is refused before anything is created.
  rc = run_cmd({COLO_BINARY, "exec", "--job", "../escape", "--", "true"}, &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("job name"), std::string::npos) << out;
}

// BE starved of CPU (two LS hogs on the two CPUs, the box cut to its floor)
// crosses the CPU-satisfaction watermark: the lowest-priority job is evicted
// whole (both of its tasks), and its cgroup goes with it. The burst limit of
// one holds the other job: under full starvation the estimate alone would
// take both (the remaining job gets no more CPU than the floor either), and
// whether one looks enough depended on the last collection's CPU split.
// The LS tasks are never touched.
TEST(ControlLoop, StarvedBeEvictsTheLowestPriorityJobWhole) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  std::string cfg = static_box_config(
      cg, "512Mi", 0.10,
      "eviction:\n  enabled: true\n  cooldown: 30s\n  burst_limit: 1\n  burst_window: 60s\n"
      "  memory: {enabled: false}\n  ls_latency: {enabled: false}\n"
      "  cpu_satisfaction: {trigger: 0.30, release: 0.50, sustain: 2s}\n");
  AgentProcess agent(cfg);
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string load = load_binary();
  auto low = Child::spawn({COLO_BINARY, "exec", "--config", agent.config_path(), "--job", "low",
                           "--priority", "1", "--", "sh", "-c",
                           load + " hog 60 & " + load + " hog 60; wait"});
  auto high = Child::spawn({COLO_BINARY, "exec", "--config", agent.config_path(), "--job", "high",
                            "--priority", "9", "--", load, "hog", "60"});
  ASSERT_TRUE(low && high);
  sleep_ms(500);
  auto ls1 = Child::spawn({load, "hog", "30"}, cg.procs_files("ls"));
  auto ls2 = Child::spawn({load, "hog", "30"}, cg.procs_files("ls"));
  ASSERT_TRUE(ls1 && ls2);
  auto st = low->wait(20000);
  std::string status;
  run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &status);
  ASSERT_TRUE(st) << "the starved low-priority job was not evicted: " << agent.log() << status;
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 128 + SIGTERM)
      << "colo exec reports the job's SIGTERM";
  EXPECT_TRUE(high->running()) << "the burst limit allows one eviction";
  EXPECT_FALSE(is_dir(cg.cpu_dir("box") + "/low")) << "colo exec removed the evicted job's cgroup";
  EXPECT_TRUE(ls1->running() && ls2->running()) << "LS tasks are never signalled";
  EXPECT_EQ(metric(agent.scrape(), "colo_evictions_total", {{"reason", "cpu_satisfaction"}}), 1.0);
  std::string out;
  run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &out);
  EXPECT_NE(out.find("evict BE job:low"), std::string::npos) << out;
}

// --dry-run: the agent decides and logs, and writes nothing to the box.
TEST(ControlLoop, DryRunWritesNothing) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  auto snapshot = [&] {
    std::string s;
    for (const std::string& f :
         {cg.cpu_dir("box") + "/cpu.cfs_quota_us", cg.cpu_dir("box") + "/cpu.shares",
          cg.cpu_dir("box") + "/cpu.idle", cg.cpuset_dir("box") + "/cpuset.cpus",
          cg.mem_dir("box") + "/memory.limit_in_bytes"})
      s += f + "=" + read_file(f).value_or("?") + "\n";
    return s;
  };
  const std::string before = snapshot();
  auto be = Child::spawn({"sleep", "30"}, cg.procs_files("box"));
  ASSERT_TRUE(be);
  const std::string adj = read_file("/proc/" + std::to_string(be->pid()) + "/oom_score_adj").value_or("?");
  AgentProcess agent(control_config(cg), {"--dry-run"});
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  sleep_ms(2000);  // 20 ticks and 2 collections
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(read_file("/proc/" + std::to_string(be->pid()) + "/oom_score_adj").value_or("?"), adj);
  EXPECT_NE(agent.log().find("dry-run: would"), std::string::npos) << agent.log();
  EXPECT_EQ(agent.stop(), 0);
  EXPECT_EQ(snapshot(), before) << "nor at exit (safe state)";
}

}  // namespace
}  // namespace colo::test
