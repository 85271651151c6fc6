// What the control loop takes from a collection window (Agent::control_window)
// is what `colo top` shows for the same window (Agent::top_json): the worst
// LS p99 over the cgroups with samples in it, BE's CPU and run-queue wait, and
// each BE cgroup's cores.
#include <gtest/gtest.h>

#include "agent/agent.h"
#include "userspace/util/hist.h"

namespace colo {
namespace {

constexpr uint64_t kMs = 1000000;

CgroupSignals sched(const std::string& cls, std::map<uint64_t, uint64_t> waits_ns, uint64_t run_ns) {
  CgroupSignals cs;
  cs.cls = cls;
  cs.has_sched = true;
  for (auto& [ns, n] : waits_ns) {
    cs.rq_slots[hist_slot(ns)] += n;
    cs.rq_count += n;
    cs.rq_sum_ns += ns * n;
  }
  cs.run_ns = run_ns;
  return cs;
}

TEST(ControlWindow, IsWhatTopShowsForTheWindow) {
  Snapshot prev, cur;
  prev.mono_ns = 10000 * kMs;
  cur.mono_ns = prev.mono_ns + 500 * kMs;
  prev.bpf_active = cur.bpf_active = true;
  // LS with new samples: some waited 4 ms in this window.
  prev.cgroups["/svc/a"] = sched("ls", {{20000, 1000}}, 100 * kMs);
  cur.cgroups["/svc/a"] = sched("ls", {{20000, 1900}, {4 * kMs, 50}}, 300 * kMs);
  // LS that waited 30 ms once, before this window, and had no sample since:
  // not this window's worst.
  prev.cgroups["/svc/b"] = sched("ls", {{30 * kMs, 1}}, 5 * kMs);
  cur.cgroups["/svc/b"] = prev.cgroups["/svc/b"];
  // LS that appeared in this window (no earlier reading: since it began).
  cur.cgroups["/svc/new"] = sched("ls", {{1 * kMs, 10}}, 2 * kMs);
  // BE: two jobs, one new.
  prev.cgroups["/box/j1"] = sched("be", {{2 * kMs, 10}}, 1000 * kMs);
  cur.cgroups["/box/j1"] = sched("be", {{2 * kMs, 110}}, 1400 * kMs);
  cur.cgroups["/box/j2"] = sched("be", {{1 * kMs, 5}}, 50 * kMs);
  // System work counts for neither.
  cur.cgroups["/system.slice"] = sched("system", {{50 * kMs, 100}}, 900 * kMs);

  const auto w = Agent::control_window(prev, cur);
  const auto top = Agent::top_json(&prev, cur);
  std::optional<double> worst;
  double be_run = 0, be_wait = 0;
  std::map<std::string, double> be_cores;
  for (auto& row : top["cgroups"]) {
    if (row["class"] == "ls" && row["runqueue_events"].get<uint64_t>() > 0)
      worst = std::max(worst.value_or(0), row["runqueue_p99_seconds"].get<double>());
    if (row["class"] == "be") {
      be_run += row["cpu_seconds"].get<double>();
      be_wait += row["runqueue_wait_seconds"].get<double>();
      be_cores[row["cgroup"]] = row["cpu_seconds"].get<double>() / top["window_seconds"].get<double>();
    }
  }
  EXPECT_DOUBLE_EQ(w.window_s, 0.5);
  ASSERT_TRUE(w.worst_ls_p99);
  ASSERT_TRUE(worst);
  EXPECT_DOUBLE_EQ(*w.worst_ls_p99, *worst);
  EXPECT_GT(*w.worst_ls_p99, 0.002) << "the 4 ms waits of /svc/a are its p99";
  EXPECT_LT(*w.worst_ls_p99, 0.02) << "/svc/b's 30 ms wait was before the window";
  EXPECT_DOUBLE_EQ(w.be_run_s, be_run);
  EXPECT_DOUBLE_EQ(w.be_run_s, 0.45);
  EXPECT_DOUBLE_EQ(w.be_wait_s, be_wait);
  EXPECT_DOUBLE_EQ(w.be_wait_s, 0.205);
  EXPECT_EQ(w.be_cores, be_cores);
  EXPECT_DOUBLE_EQ(w.be_cores.at("/box/j1"), 0.8);
}

TEST(ControlWindow, NoLsSamplesIsNoP99) {
  Snapshot prev, cur;
  cur.mono_ns = 1000 * kMs;
  prev.cgroups["/svc/a"] = sched("ls", {{20000, 10}}, kMs);
  cur.cgroups["/svc/a"] = prev.cgroups["/svc/a"];
  const auto w = Agent::control_window(prev, cur);
  EXPECT_FALSE(w.worst_ls_p99);
  EXPECT_TRUE(w.be_cores.empty());
}

}  // namespace
}  // namespace colo
