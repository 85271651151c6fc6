// Privileged integration tests of the signal plane: the real agent with its
// real programs attached, real cgroups this test creates (and removes), real
// workloads; assertions on what the agent measured. Each runs in both attach
// modes (tp_btf and its raw_tp fallback).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/privileged.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

// Run-queue latency histogram of one cgroup from a scrape: le -> cumulative count.
std::map<double, double> buckets(const std::vector<Sample>& s, const std::string& cgroup) {
  std::map<double, double> out;
  for (auto& x : s)
    if (x.name == "colo_cgroup_runqueue_latency_seconds_bucket" && x.labels.count("cgroup") &&
        x.labels.at("cgroup") == cgroup)
      out[x.labels.at("le") == "+Inf" ? INFINITY : std::stod(x.labels.at("le"))] = x.value;
  return out;
}

// The upper bound of the bucket holding quantile q of (after - before).
double quantile_bound(const std::map<double, double>& before, const std::map<double, double>& after,
                      double q) {
  double total = after.empty() ? 0 : after.rbegin()->second -
                                         (before.empty() ? 0 : before.rbegin()->second);
  if (total <= 0) return 0;
  for (auto& [le, cum] : after) {
    double b = before.count(le) ? before.at(le) : 0;
    if (cum - b >= q * total) return le;
  }
  return INFINITY;
}

double counter(const std::vector<Sample>& s, const std::string& name,
               const std::map<std::string, std::string>& labels) {
  return metric(s, name, labels).value_or(0);
}

// A test parameter is an attach mode (run-queue waits from sched_info, as
// auto picks them on this kernel), or one with "_wakeup" after it: waits from
// colo's wakeup programs, the fallback for kernels without sched_info.
const std::string kWakeup = "_wakeup";
bool wakeup_param(const std::string& param) {
  return param.size() > kWakeup.size() && param.ends_with(kWakeup);
}
std::string attach_of(const std::string& param) {
  return wakeup_param(param) ? param.substr(0, param.size() - kWakeup.size()) : param;
}
// What the agent is configured with (auto: sched_info on this kernel, which
// the status check of RunqueueLatencyHogVersusAlone confirms).
std::string waits_of(const std::string& param) { return wakeup_param(param) ? "wakeup" : "auto"; }

std::string base_config(const TestCgroups& cg, const std::string& mode,
                        const std::string& extra = "", const std::string& cgroup_extra = "") {
  std::ostringstream c;
  c << "agent:\n  collect_interval: 20ms\n"
    // Per-cgroup histograms for the test's cgroups (per class by default).
    << "metrics:\n  cgroup_histograms: [" << cg.cpu_rel() << "]\n"
    << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n  manage_bigbox: false\n"
    << cgroup_extra << "network:\n  interfaces: []\n"
    << extra
    << "bpf:\n  attach: " << attach_of(mode) << "\n  wait_source: " << waits_of(mode) << "\n";
  return c.str();
}

// Total events of a libbpf-tools runqlat histogram printout.
uint64_t runqlat_count(const std::string& out) {
  uint64_t n = 0;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto arrow = line.find("->"), colon = line.find(':');
    if (arrow == std::string::npos || colon == std::string::npos || colon < arrow) continue;
    n += std::strtoull(line.c_str() + colon + 1, nullptr, 10);
  }
  return n;
}

// /proc/PID/schedstat of a task: the time it ran and the time it waited on
// a run queue (run_delay), in ns, and its switch-ins; all NaN when it cannot
// be read.
struct SchedStat {
  double run_ns = NAN, wait_ns = NAN, switches = NAN;
};
SchedStat schedstat(pid_t pid) {
  SchedStat st;
  auto text = read_file("/proc/" + std::to_string(pid) + "/schedstat");
  if (!text || sscanf(text->c_str(), "%lf %lf %lf", &st.run_ns, &st.wait_ns, &st.switches) != 3)
    return SchedStat{};
  return st;
}

class Signals : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { COLO_REQUIRE_ROOT(); }
  // A test that no run-queue wait enters runs once per attach mode.
  bool other_wait_source() const { return wakeup_param(GetParam()); }
};

// A waker that shares CPU 0 with a BE CPU hog waits longer than the same waker
// alone; the hog is counted as the class that preempts it; and the number of
// latency samples agrees with libbpf-tools runqlat over the same window.
TEST_P(Signals, RunqueueLatencyHogVersusAlone) {
  TestCgroups cg;
  cg.create("ls");
  cg.create("box");
  cg.create("box/hog");
  // Urgent events for waits over 1 ms, at most one per cgroup per CPU per 100 ms.
  AgentProcess agent(
      base_config(cg, GetParam()) + "  urgent_latency: 1ms\n  urgent_interval: 100ms\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string ls = cg.cpu_rel("ls"), hog_cg = cg.cpu_rel("box/hog");
  // Waker: sleeps 1ms, then works 2ms (so a waiting hog takes the CPU from it).
  std::vector<std::string> waker = {"taskset", "-c", "0", load_binary(), "waker", "1000", "2000",
                                    "3"};

  auto s0 = agent.scrape();
  {
    auto w = Child::spawn(waker, cg.procs_files("ls"));
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->wait(10000));
  }
  sleep_ms(200);
  auto s1 = agent.scrape();
  double p99_alone = quantile_bound(buckets(s0, ls), buckets(s1, ls), 0.99);
  double events_alone = counter(s1, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", ls}}) -
                        counter(s0, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", ls}});
  EXPECT_GT(events_alone, 500) << "the waker alone should have been measured";

  auto hog = Child::spawn({"taskset", "-c", "0", load_binary(), "hog", "8"},
                          cg.procs_files("box/hog"));
  ASSERT_TRUE(hog);
  sleep_ms(300);
  auto w = Child::spawn(waker, cg.procs_files("ls"), "", /*stopped=*/true);
  ASSERT_TRUE(w);
  std::string rq_out = "/tmp/" + unique_name("runqlat") + ".out";
  auto rq = Child::spawn({"stdbuf", "-oL", "runqlat", "-p", std::to_string(w->pid())}, {}, rq_out);
  ASSERT_TRUE(rq);
  bool tracing = false;
  for (int i = 0; i < 100 && !tracing; i++) {
    sleep_ms(100);
    tracing = read_file(rq_out).value_or("").find("Tracing") != std::string::npos;
  }
  ASSERT_TRUE(tracing) << "runqlat did not start: " << read_file(rq_out).value_or("");
  sleep_ms(100);
  auto s2 = agent.scrape();
  w->kill(SIGCONT);
  ASSERT_TRUE(w->wait(15000));
  sleep_ms(200);
  auto s3 = agent.scrape();
  rq->kill(SIGINT);
  ASSERT_TRUE(rq->wait(10000));
  uint64_t rq_events = runqlat_count(read_file(rq_out).value_or(""));
  unlink(rq_out.c_str());

  double p99_hog = quantile_bound(buckets(s2, ls), buckets(s3, ls), 0.99);
  double events = counter(s3, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", ls}}) -
                  counter(s2, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", ls}});
  std::cout << "run-queue p99 bound alone " << p99_alone << " s, beside the hog " << p99_hog
            << " s; events colo " << events << " runqlat " << rq_events << "\n";
  EXPECT_GT(p99_hog, 2 * p99_alone) << "p99 alone " << p99_alone << " with hog " << p99_hog;
  EXPECT_GE(p99_hog, 512e-6) << "a CPU hog should delay the waker by a slice";
  ASSERT_GT(rq_events, 100u);
  EXPECT_NEAR(events, static_cast<double>(rq_events), 0.2 * rq_events)
      << "colo counted " << events << " run-queue events, runqlat " << rq_events;

  // Who preempted whom: the BE hog took the CPU from the LS waker, and back.
  double by_be = counter(s3, "colo_cgroup_preemptions_total", {{"cgroup", ls}, {"by_class", "be"}}) -
                 counter(s2, "colo_cgroup_preemptions_total", {{"cgroup", ls}, {"by_class", "be"}});
  EXPECT_GT(by_be, 10) << "the hog should be counted as the preempting class (be)";
  EXPECT_GT(counter(s3, "colo_cgroup_preemptions_total", {{"cgroup", hog_cg}, {"by_class", "ls"}}),
            0);
  auto ls_classes = metric(s3, "colo_cgroup_cpu_seconds_total", {{"cgroup", ls}, {"class", "ls"}});
  auto hog_class = metric(s3, "colo_cgroup_cpu_seconds_total", {{"cgroup", hog_cg}, {"class", "be"}});
  EXPECT_TRUE(ls_classes) << "waker's cgroup is labelled ls";
  ASSERT_TRUE(hog_class) << "hog's cgroup is labelled be";
  EXPECT_GT(*hog_class, 1.0);

  // Urgent events: raised while the hog delays the LS waker, rate-limited in the kernel.
  double urgent = counter(s3, "colo_cgroup_urgent_events_total", {{"cgroup", ls}}) -
                  counter(s2, "colo_cgroup_urgent_events_total", {{"cgroup", ls}});
  double window_s = 3.5;  // the waker's 3 s plus margins
  EXPECT_GT(urgent, 0);
  EXPECT_LE(urgent, (window_s / 0.1 + 1) * 2) << "more than one per 100 ms per CPU";
  EXPECT_EQ(counter(s3, "colo_cgroup_urgent_events_total", {{"cgroup", hog_cg}}), 0)
      << "BE tasks never raise urgent events";
  // Each event names the class the waiting task took its CPU from: the hog's.
  std::string st;
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &st), 0);
  EXPECT_NE(st.find("\"after_class\": \"be\""), std::string::npos) << st;
  // ... and what it queued behind: woken onto CPU 0, the hog running there.
  EXPECT_NE(st.find("\"queued_behind_class\": \"be\""), std::string::npos) << st;

  // colo top names the hog's cgroup as the waker's top aggressor.
  std::string top;
  ASSERT_EQ(run_cmd({COLO_BINARY, "top", "--once", "-o", "json", "--socket", agent.socket_path()},
                    &top),
            0)
      << top;
  auto topj = nlohmann::json::parse(top, nullptr, false);
  ASSERT_FALSE(topj.is_discarded()) << top;
  bool found = false;
  for (auto& row : topj["cgroups"])
    if (row["cgroup"] == ls)
      for (auto& a : row["top_aggressors"])
        found = found || (a["cgroup"] == hog_cg && a["class"] == "be");
  EXPECT_TRUE(found) << "the hog should be the waker's top aggressor: " << top;
  std::string status;
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()},
                    &status),
            0);
  EXPECT_NE(status.find(std::string("\"attach_mode\": \"") + attach_of(GetParam()) + "\""),
            std::string::npos)
      << status;
  EXPECT_NE(status.find(std::string("\"wait_source\": \"") +
                        (wakeup_param(GetParam()) ? "wakeup" : "sched_info") + "\""),
            std::string::npos)
      << status;
  // Every switch-in of a queued task had its queue time (sched_info) or
  // its wakeup's (wakeup): none was lost.
  EXPECT_EQ(counter(s3, "colo_bpf_events_lost_total", {{"source", "no_queued_time"}}), 0);
  EXPECT_EQ(counter(s3, "colo_bpf_events_lost_total", {{"source", "task_storage"}}), 0);
  EXPECT_EQ(agent.stop(), 0);
}

// Waits from sched_info are the kernel's own: over a window in which a mix
// of wakers and a hog share the two CPUs unpinned (so the load balancer
// moves tasks, some of them while they wait on a run queue), the cgroup's
// total run-queue wait in colo equals the sum of its tasks' run_delay
// (/proc/PID/schedstat), which counts every wait in full, the part before
// a move too. Measured: 0.1-0.3% low; with the part before a move left out
// (a build without it), 1.6-2.2% low.
TEST_P(Signals, WaitsFromSchedInfoEqualTheKernelsRunDelay) {
  if (other_wait_source()) GTEST_SKIP() << "wakeup programs time waits themselves";
  TestCgroups cg;
  cg.create("mix");
  cg.create("box");
  AgentProcess agent(base_config(cg, GetParam()));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string mix = cg.cpu_rel("mix");
  std::vector<std::unique_ptr<Child>> tasks;
  for (auto period : {"300", "500", "700"})
    tasks.push_back(Child::spawn({load_binary(), "waker", period, "900", "5"},
                                 cg.procs_files("mix"), "", /*stopped=*/true));
  tasks.push_back(Child::spawn({load_binary(), "hog", "5"}, cg.procs_files("mix"), "", true));
  for (auto& t : tasks) ASSERT_TRUE(t);
  // Sums over the tasks: of run_delay, and of nr_migrations in /proc/PID/sched.
  auto delay_s = [&]() {
    double sum = 0;
    for (auto& t : tasks) sum += schedstat(t->pid()).wait_ns / 1e9;
    return sum;
  };
  auto migrations = [&]() {
    double sum = 0;
    for (auto& t : tasks) {
      auto text = read_file("/proc/" + std::to_string(t->pid()) + "/sched").value_or("");
      auto at = text.find("se.nr_migrations");
      if (at != std::string::npos) sum += atof(text.c_str() + text.find(':', at) + 1);
    }
    return sum;
  };
  auto colo_s = [&](const std::vector<Sample>& s) {
    return counter(s, "colo_cgroup_runqueue_latency_seconds_sum", {{"cgroup", mix}});
  };
  // All stopped (sleeping): no wait is open at either end of the window.
  const double d0 = delay_s(), m0 = migrations();
  sleep_ms(100);  // the agent collects every 20 ms
  const double c0 = colo_s(agent.scrape());
  for (auto& t : tasks) t->kill(SIGCONT);
  sleep_ms(3000);
  // A task stopped while it waits runs to take the signal: its wait ends.
  for (auto& t : tasks) t->kill(SIGSTOP);
  sleep_ms(200);
  const double d1 = delay_s(), m1 = migrations();
  sleep_ms(100);
  const double c1 = colo_s(agent.scrape());
  for (auto& t : tasks) t->kill(SIGKILL);
  const double kernel = d1 - d0, colo = c1 - c0;
  std::cout << "run-queue wait over the window: kernel run_delay " << kernel * 1e3 << " ms, colo "
            << colo * 1e3 << " ms; migrations " << m1 - m0 << "\n";
  ASSERT_FALSE(std::isnan(kernel));
  EXPECT_GT(kernel, 0.2) << "four tasks on two CPUs wait";
  EXPECT_GT(m1 - m0, 10) << "unpinned, the tasks should move between the CPUs";
  EXPECT_NEAR(colo, kernel, 0.01 * kernel);
  EXPECT_EQ(agent.stop(), 0);
}

// A sleeping task moved to another cgroup is measured there from its next
// switch-in: the kernel side caches each thread's cgroup between switch-ins,
// and the cache must not outlive the move. Moved twice (a -> b -> a) so that
// a cache keyed by anything but the task's current cgroup set shows up.
TEST_P(Signals, MovedTaskIsMeasuredInItsNewCgroup) {
  TestCgroups cg;
  cg.create("a");
  cg.create("b");
  cg.create("box");
  AgentProcess agent(base_config(cg, GetParam()));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string a = cg.cpu_rel("a"), b = cg.cpu_rel("b");
  auto events = [](const std::vector<Sample>& s, const std::string& c) {
    return counter(s, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", c}});
  };
  auto cpu = [](const std::vector<Sample>& s, const std::string& c) {
    return counter(s, "colo_cgroup_cpu_seconds_total", {{"cgroup", c}});
  };
  // Sleeps 1 ms, works 0.5 ms: ~650 switch-ins a second, each a cache hit
  // while it stays where it is.
  auto w = Child::spawn({load_binary(), "waker", "1000", "500", "5"}, cg.procs_files("a"));
  ASSERT_TRUE(w);
  auto move_to = [&](const std::string& rel) {
    for (auto& f : cg.procs_files(rel))
      ASSERT_EQ(write_file(f, std::to_string(w->pid())), 0) << f;
  };
  sleep_ms(1200);
  move_to("b");
  sleep_ms(150);  // the move settles; the agent collects every 20 ms
  auto s1 = agent.scrape();
  sleep_ms(1200);
  auto s2 = agent.scrape();
  move_to("a");
  sleep_ms(150);
  auto s3 = agent.scrape();
  sleep_ms(1200);
  auto s4 = agent.scrape();
  ASSERT_TRUE(w->running()) << "the waker ended early";

  std::cout << "in b: b events " << events(s2, b) - events(s1, b) << " a events "
            << events(s2, a) - events(s1, a) << "; back in a: a events "
            << events(s4, a) - events(s3, a) << " b events " << events(s4, b) - events(s3, b)
            << "\n";
  EXPECT_GT(events(s2, b) - events(s1, b), 200) << "moved to b, it is measured in b";
  EXPECT_EQ(events(s2, a) - events(s1, a), 0) << "moved to b, nothing more is counted for a";
  EXPECT_GT(cpu(s2, b) - cpu(s1, b), 0.2);
  EXPECT_LT(cpu(s2, a) - cpu(s1, a), 0.02);
  EXPECT_GT(events(s4, a) - events(s3, a), 200) << "moved back, it is measured in a again";
  EXPECT_EQ(events(s4, b) - events(s3, b), 0) << "moved back, nothing more is counted for b";
  EXPECT_GT(cpu(s4, a) - cpu(s3, a), 0.2);
  EXPECT_LT(cpu(s4, b) - cpu(s3, b), 0.02);
  EXPECT_EQ(agent.stop(), 0);
}

// A CPU-bound task's cgroup CPU time grows while it runs, not only when it
// switches: the kernel charges at switches, and a lone hog pinned to a CPU
// may not switch for hundreds of ms. Checked against the task's own
// sum_exec_runtime (/proc/PID/schedstat) over 150 ms steps.
TEST_P(Signals, CpuTimeGrowsWhileATaskRuns) {
  if (other_wait_source()) GTEST_SKIP() << "no run-queue wait in this test";
  TestCgroups cg;
  cg.create("a");
  cg.create("box");
  AgentProcess agent(base_config(cg, GetParam()));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string a = cg.cpu_rel("a");
  auto hog = Child::spawn({"taskset", "-c", "1", load_binary(), "hog", "4"}, cg.procs_files("a"));
  ASSERT_TRUE(hog);
  auto own_ns = [&]() { return schedstat(hog->pid()).run_ns; };
  auto switches = [&]() { return schedstat(hog->pid()).switches; };
  auto missed = [](const std::vector<Sample>& s) {
    return counter(s, "colo_bpf_events_lost_total", {{"source", "missed_switch"}});
  };
  sleep_ms(500);
  std::vector<double> colo, own;
  const double n0 = switches();
  const double m0 = missed(agent.scrape());
  for (int i = 0; i < 12; i++) {
    if (i) sleep_ms(150);
    // The agent collects every 20 ms: what a scrape shows is at most that old.
    auto s = agent.scrape();
    own.push_back(own_ns() / 1e9);
    colo.push_back(counter(s, "colo_cgroup_cpu_seconds_total", {{"cgroup", a}}));
  }
  const double n1 = switches();
  ASSERT_TRUE(hog->running()) << "the hog ended early";
  // A missed switch is counted when the next switch repairs it.
  const double m1 = missed(agent.scrape());
  std::vector<double> err;
  for (size_t i = 1; i < colo.size(); i++)
    err.push_back(std::fabs((colo[i] - colo[i - 1]) - (own[i] - own[i - 1])));
  std::sort(err.begin(), err.end());
  const double total_err = (colo.back() - colo.front()) - (own.back() - own.front());
  std::cout << "running hog: " << own.back() - own.front() << " s of CPU by its own count, "
            << colo.back() - colo.front() << " s by colo; 150 ms steps off by " << err.front()
            << " to " << err.back() << " s (median " << err[err.size() / 2]
            << "); the hog was switched in " << n1 - n0 << " times; " << m1 - m0
            << " switches reached no tracer\n";
  // Without the running slice most steps showed none of the hog's time (the
  // median step was off by all of its 150 ms) and the worst by 0.3-0.7 s.
  EXPECT_LT(err[err.size() / 2], 0.05);
  if (m1 == m0) {
    // A switch that reached no tracer leaves the CPU's state naming another
    // task until the next switch (up to 0.6 s here): the hog's time shows
    // then. Without one, every step is right.
    EXPECT_LT(err.back(), 0.06);
    EXPECT_NEAR(total_err, 0, 0.05);
  }
  EXPECT_EQ(agent.stop(), 0);
}

// The agent walks the hierarchies when the kernel side saw a cgroup come or
// go (and every 10 collections regardless): a cgroup made while it runs is
// named at the next collection, not up to 10 s later, and one removed drops
// out as soon.
TEST_P(Signals, ACgroupMadeWhileRunningIsNamedAtTheNextCollection) {
  if (other_wait_source()) GTEST_SKIP() << "no run-queue wait in this test";
  TestCgroups cg;
  cg.create("box");
  std::string cfg = base_config(cg, GetParam());
  cfg.replace(cfg.find("collect_interval: 20ms"), 22, "collect_interval: 1s");
  AgentProcess agent(cfg);
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  sleep_ms(2500);  // past the first walks
  cg.create("late");
  const std::string late = cg.cpu_rel("late");
  auto hog = Child::spawn({load_binary(), "hog", "6"}, cg.procs_files("late"));
  ASSERT_TRUE(hog);
  double seen_after = -1;
  for (int i = 0; i < 40 && seen_after < 0; i++) {
    sleep_ms(100);
    if (counter(agent.scrape(), "colo_cgroup_cpu_seconds_total", {{"cgroup", late}}) > 0)
      seen_after = (i + 1) * 0.1;
  }
  std::cout << "a cgroup made while the agent ran was named after " << seen_after << " s\n";
  // Two collections (1 s each) at most: not the 10-collection fallback.
  EXPECT_GT(seen_after, 0) << "not named within 4 s";
  EXPECT_LE(seen_after, 2.5);
}

// Everything on CPU 0, no BE at all: an LS hog, an LS waker, and the agent in
// a cgroup of its own. The waker's urgent events name LS as what it queued
// behind (the hog, running on the CPU it was woken onto) and as what it ran
// after, so none of them is BE's doing. The agent's own threads wait behind
// the hog too, and are measured, but raise no urgent event: the agent is not
// the LS it protects.
TEST_P(Signals, WaitsBehindLsAreNamedSoAndTheAgentsOwnRaiseNoUrgentEvent) {
  TestCgroups cg;
  cg.create("ls");
  cg.create("ls/hog");
  cg.create("agent");
  cg.create("box");
  cg.create("sys");
  // The only system cgroup is an empty one: class system is the agent alone.
  AgentProcess agent(base_config(cg, GetParam(), "", "  system: [" + cg.cpu_rel("sys") + "]\n") +
                     "  urgent_latency: 1ms\n  urgent_interval: 10ms\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  // All its threads into the cgroup, and onto CPU 0 (not through a prefix:
  // the test's scrapes run through that too).
  for (auto& f : cg.procs_files("agent"))
    ASSERT_EQ(write_file(f, std::to_string(agent.pid())), 0) << f;
  std::string out;
  ASSERT_EQ(run_cmd({"taskset", "-a", "-p", "-c", "0", std::to_string(agent.pid())}, &out), 0)
      << out;
  sleep_ms(200);
  const std::string ls = cg.cpu_rel("ls"), self = cg.cpu_rel("agent");
  auto s0 = agent.scrape();
  auto hog = Child::spawn({"taskset", "-c", "0", load_binary(), "hog", "6"}, cg.procs_files("ls/hog"));
  auto w = Child::spawn({"taskset", "-c", "0", load_binary(), "waker", "1000", "2000", "3"},
                        cg.procs_files("ls"));
  ASSERT_TRUE(hog && w);
  ASSERT_TRUE(w->wait(15000));
  std::string st;
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &st), 0);
  auto s1 = agent.scrape();

  double waker_urgent = counter(s1, "colo_cgroup_urgent_events_total", {{"cgroup", ls}}) -
                        counter(s0, "colo_cgroup_urgent_events_total", {{"cgroup", ls}});
  EXPECT_GT(waker_urgent, 0) << "the waker waits behind the hog: " << st;
  auto j = nlohmann::json::parse(st, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << st;
  int named = 0;
  for (auto& e : j["recent_urgent_events"]) {
    EXPECT_NE(e["after_class"], "be") << e.dump();
    EXPECT_NE(e["queued_behind_class"], "be") << e.dump();
    if (e["queued_behind_class"] == "ls") named++;
  }
  EXPECT_GT(named, 0) << "woken behind the LS hog, it queued behind ls: " << st;

  // The agent's threads: waits over the 1 ms threshold, measured, no event.
  // Waits over the threshold: all samples less those in buckets up to ~1 ms.
  auto over = [](const std::map<double, double>& b) {
    double all = b.empty() ? 0 : b.rbegin()->second, upto = 0;
    for (auto& [le, cum] : b)
      if (le <= 1.1e-3) upto = cum;
    return all - upto;
  };
  double over_1ms = over(buckets(s1, self)) - over(buckets(s0, self));
  std::cout << "agent's own waits over 1 ms: " << over_1ms << "; the waker's urgent events "
            << waker_urgent << "\n";
  EXPECT_GT(over_1ms, 0) << "the agent, pinned beside a hog, waits over 1 ms at times";
  EXPECT_EQ(counter(s1, "colo_cgroup_urgent_events_total", {{"cgroup", self}}), 0)
      << "the agent's own waits raise no urgent event: " << st;

  // Its CPU time counts as system work, not as LS demand beside the box
  // (per cgroup it is measured as any other). Per-cgroup time is flushed in
  // batches, class time at once: allow a few ms.
  auto delta = [&](const char* name, const std::map<std::string, std::string>& l) {
    return counter(s1, name, l) - counter(s0, name, l);
  };
  const double self_cpu = delta("colo_cgroup_cpu_seconds_total", {{"cgroup", self}});
  const double system_cpu = delta("colo_class_cpu_seconds_total", {{"class", "system"}});
  std::cout << "agent's cgroup CPU " << self_cpu * 1000 << " ms; class system " << system_cpu * 1000
            << " ms\n";
  EXPECT_GT(self_cpu, 0.005) << "the agent worked (collections every 20 ms)";
  EXPECT_GE(system_cpu, 0.8 * self_cpu - 0.005) << "the agent's CPU is system work";
  // Kernel threads (in the root cgroup, LS by default) are system work too;
  // they always run a little in 3 s (8-9 ms here), and little else can be.
  EXPECT_GT(system_cpu, self_cpu) << "kernel threads count as system";
  EXPECT_LE(system_cpu, 1.2 * self_cpu + 0.05) << "the system cgroup is empty";
  EXPECT_EQ(agent.stop(), 0);
}

// CPUs 0 and 1 declared SMT siblings: 4 s of an LS task on CPU 0 overlapping a
// BE task on CPU 1 is charged as ~4 s; an LS task beside an idle sibling ~0.
TEST_P(Signals, SmtInterference) {
  if (other_wait_source()) GTEST_SKIP() << "no run-queue wait in this test";
  TestCgroups cg;
  cg.create("ls");
  cg.create("box");
  AgentProcess agent(base_config(cg, GetParam(), "topology:\n  smt_siblings: [[0, 1]]\n"));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string ls = cg.cpu_rel("ls");
  const std::map<std::string, std::string> be_aggr = {{"cgroup", ls}, {"aggressor_class", "be"}};

  const std::string box = cg.cpu_rel("box");
  auto sb0 = agent.scrape();
  std::string be_out = "/tmp/" + unique_name("be-hog") + ".out";
  auto be = Child::spawn({"taskset", "-c", "1", load_binary(), "hog", "5"}, cg.procs_files("box"),
                         be_out);
  ASSERT_TRUE(be);
  sleep_ms(300);
  auto s0 = agent.scrape();
  std::string ls_out = "/tmp/" + unique_name("ls-hog") + ".out";
  {
    auto lsp = Child::spawn({"taskset", "-c", "0", load_binary(), "hog", "4"},
                            cg.procs_files("ls"), ls_out);
    ASSERT_TRUE(lsp);
    ASSERT_TRUE(lsp->wait(10000));
  }
  sleep_ms(100);
  auto s1 = agent.scrape();
  // The LS task ran for this long, all of it beside the BE hog on the sibling.
  std::string ls_report = read_file(ls_out).value_or("");
  unlink(ls_out.c_str());
  double ls_cpu = 0, ls_wall = 0;
  ASSERT_EQ(sscanf(ls_report.c_str(), "cpu_seconds %lf wall_seconds %lf", &ls_cpu, &ls_wall), 2)
      << ls_report;
  double overlap = counter(s1, "colo_cgroup_smt_interference_seconds_total", be_aggr) -
                   counter(s0, "colo_cgroup_smt_interference_seconds_total", be_aggr);
  double ls_run = counter(s1, "colo_cgroup_cpu_seconds_total", {{"cgroup", ls}}) -
                  counter(s0, "colo_cgroup_cpu_seconds_total", {{"cgroup", ls}});
  const double missed =
      counter(s1, "colo_bpf_events_lost_total", {{"source", "missed_switch"}}) -
      counter(s0, "colo_bpf_events_lost_total", {{"source", "missed_switch"}});
  std::cout << "SMT: LS ran " << ls_cpu << " s beside the BE hog (colo: " << ls_run
            << " s of CPU); colo measured " << overlap << " s of overlap; " << missed
            << " switches reached no tracer\n";

  ASSERT_TRUE(be->wait(10000));
  std::string be_report = read_file(be_out).value_or("");
  unlink(be_out.c_str());
  double be_cpu = 0, be_wall = 0;
  ASSERT_EQ(sscanf(be_report.c_str(), "cpu_seconds %lf wall_seconds %lf", &be_cpu, &be_wall), 2)
      << be_report;
  // The true overlap lies between the LS task's CPU time less the time the BE
  // task was off its CPU, and the LS task's CPU time.
  double be_off = be_wall - be_cpu;
  // The BE hog (at the box's minimum weight) yields to anything else on its
  // CPU: under load the true overlap is well below the LS task's CPU time.
  std::cout << "SMT: BE ran " << be_cpu << " s of " << be_wall
            << " s wall; the overlap lies between " << ls_cpu - be_off << " and " << ls_cpu
            << " s\n";
  // The bound: 4 s of overlap measures 4 s +-10%. On this VM some
  // context switches reach no tracer (switches out of the sandbox init's
  // threads): before colo repaired those (settle_missed_switch,
  // sibling_missed_switch), 5 of 10 quiet runs read 6-25% low.
  EXPECT_LE(overlap, 1.1 * ls_cpu);
  EXPECT_GE(overlap, 0.9 * (ls_cpu - be_off)) << "BE was off its CPU for " << be_off << " s";
  // The BE hog's CPU time as colo charged it to the box (its whole life is
  // between the two scrapes): a missed switch no longer hands a run of it to
  // the task the last seen switch put on the CPU.
  sleep_ms(300);  // the agent's last collection sees the hog's exit
  auto sb1 = agent.scrape();
  double box_cpu = counter(sb1, "colo_cgroup_cpu_seconds_total", {{"cgroup", box}}) -
                   counter(sb0, "colo_cgroup_cpu_seconds_total", {{"cgroup", box}});
  std::cout << "SMT: colo charged the box " << box_cpu << " s of CPU\n";
  EXPECT_NEAR(box_cpu, be_cpu, 0.05 * be_cpu);

  sleep_ms(200);
  auto s2 = agent.scrape();
  {
    auto lsp = Child::spawn({"taskset", "-c", "0", load_binary(), "hog", "2"},
                            cg.procs_files("ls"));
    ASSERT_TRUE(lsp);
    ASSERT_TRUE(lsp->wait(10000));
  }
  sleep_ms(100);
  auto s3 = agent.scrape();
  double idle = counter(s3, "colo_cgroup_smt_interference_seconds_total", be_aggr) -
                counter(s2, "colo_cgroup_smt_interference_seconds_total", be_aggr);
  EXPECT_LT(idle, 0.05) << "an idle sibling interferes with nothing";
}

// A process filling the page cache in a memory cgroup with a tight limit
// stalls in memcg reclaim; the same process in a cgroup without limit does not.
TEST_P(Signals, MemoryReclaimStall) {
  if (other_wait_source()) GTEST_SKIP() << "no run-queue wait in this test";
  TestCgroups cg;
  cg.create("tight");
  cg.create("free");
  ASSERT_EQ(write_file(cg.mem_dir("tight") + "/memory.limit_in_bytes", "33554432"), 0);
  AgentProcess agent(base_config(cg, GetParam()));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  std::string file = "/var/tmp/" + unique_name("colo-pagecache");
  for (const char* which : {"tight", "free"}) {
    auto p = Child::spawn({load_binary(), "pagecache", file + which, "192"}, cg.procs_files(which));
    ASSERT_TRUE(p);
    auto st = p->wait(120000);
    ASSERT_TRUE(st);
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << which;
  }
  sleep_ms(200);
  auto s = agent.scrape();
  double tight = counter(s, "colo_cgroup_memory_reclaim_stall_seconds_total",
                         {{"cgroup", cg.mem_rel("tight")}});
  double free_ = counter(s, "colo_cgroup_memory_reclaim_stall_seconds_total",
                         {{"cgroup", cg.mem_rel("free")}});
  EXPECT_GT(tight, 0) << "the limited cgroup should stall in reclaim";
  EXPECT_GT(counter(s, "colo_cgroup_memory_reclaim_stalls_total", {{"cgroup", cg.mem_rel("tight")}}),
            0);
  EXPECT_EQ(free_, 0) << "the unlimited cgroup should not stall";
}

// A task that outgrows its memory cgroup's limit is OOM-killed: counted for
// that cgroup and no other.
TEST_P(Signals, OomKillCounted) {
  if (other_wait_source()) GTEST_SKIP() << "no run-queue wait in this test";
  TestCgroups cg;
  cg.create("small");
  ASSERT_EQ(write_file(cg.mem_dir("small") + "/memory.limit_in_bytes", "33554432"), 0);
  AgentProcess agent(base_config(cg, GetParam()));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto p = Child::spawn({load_binary(), "anon", "256"}, cg.procs_files("small"));
  ASSERT_TRUE(p);
  auto st = p->wait(60000);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << "expected an OOM kill";
  sleep_ms(200);
  auto s = agent.scrape();
  EXPECT_EQ(counter(s, "colo_cgroup_oom_kills_total", {{"cgroup", cg.mem_rel("small")}}), 1);
  EXPECT_EQ(counter(s, "colo_cgroup_oom_kills_total", {}), 1) << "no other cgroup counted";
}

// Loopback traffic inside a network namespace of the test is counted for the
// sending cgroup to within 1% of the bytes sent; the filter is gone after exit.
TEST_P(Signals, EgressPerCgroup) {
  if (other_wait_source()) GTEST_SKIP() << "no run-queue wait in this test";
  TestCgroups cg;
  cg.create("sender");
  NetNs ns;
  ASSERT_TRUE(ns.ok());
  // The agent runs inside the namespace, accounting its lo only.
  std::string cfg = "agent:\n  collect_interval: 20ms\ncgroup:\n  manage_bigbox: false\n"
                    "bpf:\n  attach: " + attach_of(GetParam()) + "\nnetwork:\n  interfaces: [lo]\n";
  AgentProcess nsagent(cfg, {}, ns.exec_prefix());
  ASSERT_TRUE(nsagent.wait_ready()) << nsagent.log();

  const int count = 2000, size = 1000;
  std::vector<std::string> argv = ns.exec_prefix();
  for (auto& a : std::vector<std::string>{load_binary(), "udp", "5555", std::to_string(count),
                                          std::to_string(size)})
    argv.push_back(a);
  auto s0 = nsagent.scrape();
  {
    auto p = Child::spawn(argv, {cg.v2_dir("sender") + "/cgroup.procs"});
    ASSERT_TRUE(p);
    auto st = p->wait(30000);
    ASSERT_TRUE(st);
    ASSERT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
  }
  sleep_ms(200);
  auto s1 = nsagent.scrape();
  const std::map<std::string, std::string> l = {{"cgroup", cg.v2_rel("sender")},
                                                {"interface", "lo"}};
  double bytes = counter(s1, "colo_cgroup_network_transmit_bytes_total", l) -
                 counter(s0, "colo_cgroup_network_transmit_bytes_total", l);
  double packets = counter(s1, "colo_cgroup_network_transmit_packets_total", l) -
                   counter(s0, "colo_cgroup_network_transmit_packets_total", l);
  // On lo each datagram leaves as Ethernet (14) + IPv4 (20) + UDP (8) + payload.
  double sent = static_cast<double>(count) * (size + 14 + 20 + 8);
  EXPECT_NEAR(bytes, sent, 0.01 * sent);
  EXPECT_NEAR(packets, count, 0.01 * count);

  EXPECT_EQ(nsagent.stop(), 0);
  std::string out;
  std::vector<std::string> tc = ns.exec_prefix();
  for (auto& a : std::vector<std::string>{"tc", "filter", "show", "dev", "lo", "egress"})
    tc.push_back(a);
  run_cmd(tc, &out);
  EXPECT_EQ(out.find("colo_egress"), std::string::npos) << "filter left behind: " << out;
  tc = ns.exec_prefix();
  for (auto& a : std::vector<std::string>{"tc", "qdisc", "show", "dev", "lo"}) tc.push_back(a);
  run_cmd(tc, &out);
  EXPECT_EQ(out.find("clsact"), std::string::npos) << "clsact left behind: " << out;
}

INSTANTIATE_TEST_SUITE_P(AttachModes, Signals,
                         ::testing::Values("tp_btf", "raw_tp", "tp_btf_wakeup", "raw_tp_wakeup"),
                         [](const auto& info) { return info.param; });

// Without BPF the agent still serves: it says so, exports PSI, and is ready.
// The box colo creates below a level it also creates (here <test>/be/box, as
// /colo.slice/bigbox on a bare host): that level gets cpu.idle too, so an LS
// waker beside a BE hog on one CPU takes the CPU at once on each wakeup. With
// the parent at the default weight the waker would compete with the hog's
// whole group and wait for its slice (RunqueueLatencyHogVersusAlone: >= 0.5 ms).
TEST(BoxWeight, LsWakerBesideABoxColoCreatedWaitsLittle) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("ls");
  std::ostringstream c;
  c << "agent:\n  collect_interval: 50ms\n"
    << "metrics:\n  cgroup_histograms: [" << cg.cpu_rel() << "]\n"
    << "cgroup:\n  bigbox: " << cg.cpu_rel("be/box") << "\n  bigbox_create: true\n"
    << "  bigbox_paths:\n    memory: " << cg.mem_rel("be/box") << "\n"
    << "network:\n  interfaces: []\n"
    // Quota never below one core: the hog is held back by weight alone.
    << "policy:\n  mode: static\n  static:\n    cpu_cores: 1.9\n    memory: 256Mi\n"
    << "  smoothing:\n    peak_window: 0s\n    grow_time_constant: 0s\n"
    << "controller:\n  tick: 100ms\n  hold: 300ms\n  step: 1\n  floor: 0.6\n";
  AgentProcess agent(c.str());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string parent = cg.cpu_dir("be");
  ASSERT_TRUE(eventually([&] { return read_line(parent + "/cpu.idle").value_or("") == "1"; }, 5000))
      << "the level colo created above the box is idle too; log:\n" << agent.log();
  EXPECT_EQ(read_line(cg.cpu_dir("be/box") + "/cpu.idle").value_or(""), "1");

  auto hog = Child::spawn({"taskset", "-c", "0", load_binary(), "hog", "6"},
                          {cg.cpu_dir("be/box") + "/cgroup.procs",
                           cg.mem_dir("be/box") + "/cgroup.procs"});
  ASSERT_TRUE(hog);
  sleep_ms(300);
  const std::string ls = cg.cpu_rel("ls");
  auto s0 = agent.scrape();
  auto w = Child::spawn({"taskset", "-c", "0", load_binary(), "waker", "1000", "2000", "3"},
                        cg.procs_files("ls"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->wait(10000));
  sleep_ms(200);
  auto s1 = agent.scrape();
  ASSERT_TRUE(hog->running()) << "the hog ran throughout";
  double events = counter(s1, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", ls}}) -
                  counter(s0, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", ls}});
  double p99 = quantile_bound(buckets(s0, ls), buckets(s1, ls), 0.99);
  std::cout << "LS waker beside the hog: " << events << " wakeups, p99 bound " << p99 << " s\n";
  EXPECT_GT(events, 300);
  EXPECT_LE(p99, 256e-6) << "the waker should preempt the idle box at once";
  EXPECT_EQ(agent.stop(), 0);
}

TEST(Fallback, NoBpfServesCgroupfsSignals) {
  COLO_REQUIRE_ROOT();
  AgentProcess agent("bpf:\n  attach: none\nnetwork:\n  interfaces: []\n"
                     "cgroup:\n  manage_bigbox: false\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto s = agent.scrape();
  EXPECT_EQ(metric(s, "colo_bpf_attached", {{"mode", "none"}}), 0.0);
  EXPECT_TRUE(metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total", {{"cgroup", "/"}}))
      << "PSI of the root from cgroupfs or /proc/pressure";
  EXPECT_FALSE(metric(s, "colo_cgroup_runqueue_latency_seconds_count"));
  EXPECT_NE(agent.log().find("BPF disabled"), std::string::npos);
  EXPECT_EQ(agent.stop(), 0);
}

// The control socket is 0600, /healthz answers, SIGTERM exits 0 and leaves the
// pins for bpftool (removed by `colo bpf cleanup`).
TEST(Agent, SocketHealthAndCleanExit) {
  COLO_REQUIRE_ROOT();
  AgentProcess agent("network:\n  interfaces: []\ncgroup:\n  manage_bigbox: false\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  struct stat st {};
  ASSERT_EQ(stat(agent.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(agent.get("/healthz").value_or(""), "ok\n");
  // The exposition passes Prometheus' own linter.
  std::string metrics_file = "/tmp/" + unique_name("metrics") + ".txt";
  {
    std::ofstream(metrics_file) << agent.get("/metrics").value_or("");
  }
  std::string lint;
  EXPECT_EQ(run_cmd({"sh", "-c", "promtool check metrics < " + metrics_file}, &lint), 0) << lint;
  unlink(metrics_file.c_str());
  std::string out;
  // bpftool shows the per-CPU state by field name (BTF).
  ASSERT_EQ(run_cmd({"bpftool", "map", "dump", "pinned", agent.pin_dir() + "/colo_cpu"}, &out), 0)
      << out;
  EXPECT_NE(out.find("\"class_ns\""), std::string::npos) << out;
  EXPECT_EQ(agent.stop(), 0);
  EXPECT_TRUE(path_exists(agent.pin_dir() + "/colo_cg_sched")) << "pins stay after exit";
  ASSERT_EQ(run_cmd({COLO_BINARY, "bpf", "cleanup", "--bpf-pin-dir", agent.pin_dir()}, &out), 0);
  EXPECT_FALSE(path_exists(agent.pin_dir()));
  // Against a stopped agent the CLI says so and fails.
  EXPECT_NE(run_cmd({COLO_BINARY, "status", "--socket", agent.socket_path()}, &out), 0);
  EXPECT_NE(out.find("is `colo agent` running?"), std::string::npos) << out;
}

// SIGHUP with a broken file: the error is logged with file and line, the last
// good configuration stays and the agent keeps serving; a good file applies.
TEST(Agent, BadReloadKeepsServing) {
  COLO_REQUIRE_ROOT();
  AgentProcess agent("network:\n  interfaces: []\ncgroup:\n  manage_bigbox: false\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  {
    std::ofstream(agent.config_path()) << "agent:\n  log_level: [oops\n";
  }
  ASSERT_EQ(kill(agent.pid(), SIGHUP), 0);
  sleep_ms(500);
  EXPECT_TRUE(agent.get("/metrics")) << "still serving after a bad reload";
  EXPECT_NE(agent.log().find("reload rejected"), std::string::npos) << agent.log();
  EXPECT_NE(agent.log().find(agent.config_path() + ":"), std::string::npos) << agent.log();
  {
    std::ofstream(agent.config_path()) << "network:\n  interfaces: []\ncgroup:\n"
                                          "  manage_bigbox: false\nbpf:\n  urgent_latency: 2ms\n";
  }
  ASSERT_EQ(kill(agent.pid(), SIGHUP), 0);
  sleep_ms(500);
  EXPECT_NE(agent.log().find("configuration reloaded"), std::string::npos) << agent.log();
  EXPECT_EQ(agent.stop(), 0);
}

// A removed cgroup's series disappear (the kernel side forgets it on rmdir).
TEST(Agent, RemovedCgroupIsForgotten) {
  COLO_REQUIRE_ROOT();
  auto cg = std::make_unique<TestCgroups>();
  cg->create("gone");
  std::string rel = cg->cpu_rel("gone");
  AgentProcess agent(
      "agent:\n  collect_interval: 20ms\nnetwork:\n  interfaces: []\n"
      "cgroup:\n  manage_bigbox: false\nmetrics:\n  cgroup_histograms: [" + cg->cpu_rel() + "]\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  {
    auto w = Child::spawn({load_binary(), "waker", "1000", "100", "0.5"}, cg->procs_files("gone"));
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->wait(5000));
  }
  sleep_ms(200);
  EXPECT_TRUE(metric(agent.scrape(), "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", rel}}));
  cg.reset();  // rmdir
  sleep_ms(300);
  EXPECT_FALSE(metric(agent.scrape(), "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", rel}}));
}

}  // namespace
}  // namespace colo::test
