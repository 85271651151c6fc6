// The control loop's fast path on a fixture v1 tree with a fake clock: LS
// demand that no longer fits beside the box cuts the quota within the fast
// window, demand that fits does not, and the reaction is timed from the first
// sample in which LS no longer fit.
#include "agent/controller.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <iostream>

#include "colo_abi.h"
#include "support/stderr_capture.h"
#include "support/temp_dir.h"
#include "support/text.h"
#include "userspace/util/fs.h"

namespace colo {
namespace {

using test::count_of;

using test::TempDir;
constexpr uint64_t kMs = 1000000;

struct Fixture {
  TempDir tmp{"colo-controller"};
  policy::FakeClock clock;
  Config cfg;
  Topology topo;
  // Injected write errors: file name (cpu.cfs_quota_us, ...) -> errno.
  std::shared_ptr<std::map<std::string, int>> faults = std::make_shared<std::map<std::string, int>>();
  std::unique_ptr<Controller> ctl;
  uint64_t be_ns = 0;  // BE's CPU time as the fast-path samples read it

  explicit Fixture(double adopted_quota_cores, uint64_t box_memory_usage = 0,
                   std::function<void(Config&)> tweak = {}, int ticks = 2,
                   uint64_t adopted_memory_limit = 0 /* 0: unlimited */) {
    tmp.put("cpu/cgroup.procs", "");
    tmp.put("cpuset/cgroup.procs", "");
    tmp.put("cpuset/cpuset.cpus", "0-1\n");
    tmp.put("cpuset/cpuset.mems", "0\n");
    tmp.put("memory/cgroup.procs", "");
    tmp.put("unified/cgroup.controllers", "");
    const std::string rel = "colo.slice/bigbox";
    for (const char* f : {"cpu.shares", "cpu.idle", "cgroup.procs"}) tmp.put("cpu/" + rel + "/" + f, "");
    tmp.put("cpu/" + rel + "/cpu.cfs_period_us", "100000\n");
    // A negative quota: an unlimited box (cfs_quota_us -1).
    tmp.put("cpu/" + rel + "/cpu.cfs_quota_us",
            (adopted_quota_cores < 0 ? std::string("-1")
                                     : std::to_string(static_cast<long>(adopted_quota_cores * 100000))) +
                "\n");
    tmp.put("cpuset/" + rel + "/cpuset.cpus", "0-1\n");
    tmp.put("cpuset/" + rel + "/cpuset.mems", "0\n");
    tmp.put("memory/" + rel + "/memory.limit_in_bytes",
            (adopted_memory_limit ? std::to_string(adopted_memory_limit) : "9223372036854771712") +
                "\n");
    tmp.put("memory/" + rel + "/memory.usage_in_bytes", std::to_string(box_memory_usage) + "\n");
    tmp.put("memory/" + rel + "/cgroup.procs", "");
    tmp.put("unified/" + rel + "/cgroup.procs", "");
    std::string err;
    auto layout = CgroupLayout::from_tree(tmp.path(), &err);
    EXPECT_TRUE(layout) << err;
    BigBox::Options bo;
    bo.write_fn = [faults = faults](const std::string& path, std::string_view data) {
      auto it = faults->find(path.substr(path.find_last_of('/') + 1));
      return it != faults->end() ? -it->second : write_file(path, data);
    };
    auto box = BigBox::open(*layout, bo, &err);
    EXPECT_TRUE(box) << err;
    topo.possible = topo.online = {0, 1};
    topo.cores = {{0}, {1}};
    cfg.policy.mode = policy::Mode::Static;
    cfg.policy.static_cpu_cores = 1.4;  // 2 CPUs x the 0.7 watermark
    if (tweak) tweak(cfg);
    ctl = std::make_unique<Controller>(cfg, std::move(*box), topo, clock);
    // Two slow-path ticks: the policy has a fresh sample and its target
    // (static, 1.6 cores) is known; the adopted allowance stays.
    ClassTimes t;
    for (int i = 0; i < ticks; i++) {
      if (i) clock.advance(std::chrono::milliseconds(100));
      t.mono_ns = (800 + 100 * i) * kMs;
      ctl->tick(t);
    }
  }
  std::string quota() {
    return std::string(trim(read_file(tmp.path() + "/cpu/colo.slice/bigbox/cpu.cfs_quota_us")
                                .value_or("?")));
  }
};

// Feeds samples every 2 ms with LS at `ls_cores` from t0 on, and a greedy BE
// beside it (`be_greedy`: it takes what its quota allows of what LS leaves on
// the 2 CPUs; else an idle box); returns the sample index at which the quota
// file changed, or -1.
// One fast sample `span_ms` (2) on (see feed()); returns the class times it fed.
ClassTimes fast_sample(Fixture& f, uint64_t& t_ns, uint64_t& ls_ns, double ls_cores,
                       bool be_greedy = true, int span_ms = 2) {
  const double quota = std::stod(f.quota()) / 100000;
  const double be = be_greedy ? std::max(0.0, std::min(quota, 2.0 - ls_cores)) : 0.0;
  t_ns += span_ms * kMs;
  ls_ns += static_cast<uint64_t>(ls_cores * span_ms * kMs);
  f.be_ns += static_cast<uint64_t>(be * span_ms * kMs);
  ClassTimes t;
  t.mono_ns = t_ns;
  t.ls_ns = ls_ns;
  t.be_ns = f.be_ns;
  f.clock.advance(std::chrono::milliseconds(span_ms));
  f.ctl->on_fast_sample(t);
  return t;
}

int feed(Fixture& f, uint64_t& t_ns, uint64_t& ls_ns, double ls_cores, int samples,
         bool be_greedy = true) {
  const std::string before = f.quota();
  for (int i = 0; i < samples; i++) {
    fast_sample(f, t_ns, ls_ns, ls_cores, be_greedy);
    if (f.quota() != before) return i;
  }
  return -1;
}

TEST(ControllerFastPath, LsJumpCutsTheQuotaWithinHalfTheWindow) {
  Fixture f(1.4);
  ASSERT_EQ(f.quota(), "140000") << f.ctl->status().dump(1);
  uint64_t t = 1000 * kMs, ls = 0;
  // LS quiet at 0.1 cores: 0.1 + 1.4 fits on 2 CPUs.
  EXPECT_EQ(feed(f, t, ls, 0.1, 50), -1);
  EXPECT_EQ(f.quota(), "140000");
  // LS jumps to 1 core: 1 + 1.4 > 2, and BE fills the rest. The 10 ms window
  // is saturated (90% of 2 CPUs) after 3 samples of 2 ms: LS (0.1*2+1*3)/5 =
  // 0.64, BE (1.4*2+1*3)/5 = 1.16.
  int at = feed(f, t, ls, 1.0, 20);
  ASSERT_GE(at, 0) << "no clamp";
  EXPECT_LE(at, 2) << "the clamp took " << (at + 1) * 2 << " ms of samples";
  EXPECT_EQ(f.quota(), "116000") << "cut to what LS leaves of 90% of 2 CPUs: 1.8 - 0.64";
  auto st = f.ctl->status();
  EXPECT_NE(st.dump().find("LS demand"), std::string::npos) << st.dump();
  // As the window fills with the new demand, the box follows it down to
  // 1.8 - 1.0 and stays there.
  for (int i = 0; i < 5; i++) feed(f, t, ls, 1.0, 20);
  EXPECT_NEAR(std::stod(f.quota()), 80000, 100);
  EXPECT_EQ(feed(f, t, ls, 1.0, 20), -1);
}

// Two ticks with LS at 0.3 of each CPU (the box keeps both CPUs for its 1.4
// cores), then LS jumps to 1 core: the fast path cuts the quota below one
// core, and with controller.fast_cpuset the cpuset drops to the one CPU that
// leaves BE enough at that cut, in the same sample, not at the next tick.
std::string cpuset_after_a_cut(bool fast_cpuset, int* cut_at) {
  Fixture f(1.4, 0, [&](Config& c) { c.controller.fast_cpuset = fast_cpuset; });
  const std::string file = f.tmp.path() + "/cpuset/colo.slice/bigbox/cpuset.cpus";
  ClassTimes t;
  uint64_t ls = 0;
  for (int i = 0; i < 2; i++) {
    f.clock.advance(std::chrono::milliseconds(100));
    ls += 30 * kMs;
    t.mono_ns = (1000 + 100 * i) * kMs;
    t.ls_ns = 2 * ls;
    t.ls_ns_by_cpu = {{0, ls}, {1, ls}};
    f.ctl->tick(t);
  }
  EXPECT_EQ(trim(read_file(file).value_or("?")), "0-1") << f.ctl->status().dump(1);
  EXPECT_EQ(f.quota(), "140000");
  uint64_t tn = t.mono_ns, ls_total = t.ls_ns;
  *cut_at = -1;
  for (int i = 0; i < 40 && *cut_at < 0; i++) {
    fast_sample(f, tn, ls_total, 1.0);
    if (std::stod(f.quota()) < 100000) *cut_at = i;
  }
  return std::string(trim(read_file(file).value_or("?")));
}

TEST(ControllerFastPath, ACutBelowOneCpuNarrowsTheCpusetAtOnce) {
  int at = -1;
  EXPECT_EQ(cpuset_after_a_cut(true, &at), "1")
      << "0.8 cores need one CPU when LS leaves 0.7 of it (cover 0.5)";
  EXPECT_GE(at, 0) << "no cut below one core";
  // Without it, the same cut leaves BE throttled on both CPUs until a tick.
  EXPECT_EQ(cpuset_after_a_cut(false, &at), "0-1");
  EXPECT_GE(at, 0);
}

TEST(ControllerFastPath, LsTakingEverythingCutsToTheFloor) {
  Fixture f(1.4);
  uint64_t t = 1000 * kMs, ls = 0;
  EXPECT_GE(feed(f, t, ls, 2.0, 10), 0);
  EXPECT_EQ(f.quota(), "28000") << "floor 0.2 x target 1.4";
}

TEST(ControllerFastPath, DemandThatFitsDoesNotClamp) {
  Fixture f(1.0);
  uint64_t t = 1000 * kMs, ls = 0;
  // 0.7 + 1.0 stays under 90% of 2 CPUs: LS does not wait for BE.
  EXPECT_EQ(feed(f, t, ls, 0.7, 100), -1);
  EXPECT_EQ(f.quota(), "100000");
}

TEST(ControllerFastPath, LsBurstBesideAnIdleBoxDoesNotClamp) {
  Fixture f(1.4);
  uint64_t t = 1000 * kMs, ls = 0;
  // LS (or the system) takes 1.5 cores for 50 ms while BE runs nothing:
  // nothing is in LS's way.
  EXPECT_EQ(feed(f, t, ls, 1.5, 25, /*be_greedy=*/false), -1);
  EXPECT_EQ(f.quota(), "140000");
  // BE wakes up beside it: now it is in the way.
  EXPECT_GE(feed(f, t, ls, 1.5, 10), 0);
  EXPECT_LT(std::stod(f.quota()), 140000);
}

TEST(ControllerFastPath, OneNoisySampleDoesNotClamp) {
  Fixture f(1.4);
  uint64_t t = 1000 * kMs, ls = 0;
  EXPECT_EQ(feed(f, t, ls, 0.0, 10), -1);
  // One 2 ms sample at 1.5 cores (a short burst) averages to 0.3 over 10 ms,
  // under the 0.6-core room.
  EXPECT_EQ(feed(f, t, ls, 1.5, 1), -1);
  EXPECT_EQ(feed(f, t, ls, 0.0, 10), -1);
  EXPECT_EQ(f.quota(), "140000");
}

// The dynamic policy (2 CPUs x 0.7 - 0.5 reserve = 0.9 cores with LS quiet):
// LS use that leaves BE less under the watermark lowers the box within the
// fast window, although LS + BE still fit on the CPUs (no saturation), and
// the reaction is timed. Beside an idle box the tick decides.
TEST(ControllerFastPath, DynamicTargetFallsWithinTheWindowWhenLsRises) {
  Fixture f(0.9, 0, [](Config& c) {
    c.policy.mode = policy::Mode::Dynamic;
    c.policy.grow_time_constant = policy::Duration(0);  // the target at once
  });
  ASSERT_EQ(f.quota(), "90000") << f.ctl->status().dump(1);
  uint64_t t = 1000 * kMs, ls = 0;
  EXPECT_EQ(feed(f, t, ls, 0.0, 20), -1) << "LS quiet: the box stays";
  // LS at 0.6 cores: 0.6 + 0.9 = 1.5 < 90% of 2 CPUs, so the saturation rule
  // would not cut; the watermark leaves 1.4 - 0.6 - 0.5 = 0.3.
  int at = feed(f, t, ls, 0.6, 20);
  ASSERT_GE(at, 0) << "no cut";
  EXPECT_LE(at, 1) << "cut after " << (at + 1) * 2 << " ms of samples";
  for (int i = 0; i < 5; i++) feed(f, t, ls, 0.6, 10);
  EXPECT_NEAR(std::stod(f.quota()), 30000, 200) << "down to what the watermark leaves";
  auto st = f.ctl->status().dump();
  EXPECT_NE(st.find("target falls (LS "), std::string::npos) << st;
  auto m = f.ctl->Collect();
  bool timed = false;
  for (auto& fam : m)
    if (fam.name == "colo_control_reaction_seconds")
      for (auto& mm : fam.metric)
        for (auto& l : mm.label)
          if (l.value == "ls_demand" && mm.histogram.sample_count > 0) timed = true;
  EXPECT_TRUE(timed) << "the cut is timed as an ls_demand reaction";
}

TEST(ControllerFastPath, DynamicTargetIsNotCutBesideAnIdleBoxOrForNoise) {
  Fixture f(0.9, 0, [](Config& c) {
    c.policy.mode = policy::Mode::Dynamic;
    c.policy.grow_time_constant = policy::Duration(0);  // the target at once
  });
  uint64_t t = 1000 * kMs, ls = 0;
  // BE idle: nothing to take back now; the tick's average decides.
  EXPECT_EQ(feed(f, t, ls, 0.6, 25, /*be_greedy=*/false), -1);
  EXPECT_EQ(f.quota(), "90000");
  // LS at 0.05 cores (under the 0.1-core noise margin) beside a busy box.
  EXPECT_EQ(feed(f, t, ls, 0.05, 25), -1);
  EXPECT_EQ(f.quota(), "90000");
}

// The built-in dynamic policy end to end, fast path and ticks together, on
// the fake clock: 2 CPUs, a greedy BE, LS at `ls_cores` for `seconds`
// (fast samples every 2 ms, a tick every 100 ms). Returns the seconds after
// which the quota first reached `until` cores (-1: not within `seconds`).
struct LoopSim {
  Fixture& f;
  uint64_t t_ns = 1000 * kMs, ls_ns = 0;
  int step = 0;
  double run(double ls_cores, double seconds, double until = 1e9) {
    for (int i = 0; i < static_cast<int>(std::lround(seconds * 500)); i++, step++) {
      ClassTimes t = fast_sample(f, t_ns, ls_ns, ls_cores);
      if (step % 50 == 49) f.ctl->tick(t);
      if (std::stod(f.quota()) / 100000 >= until - 1e-9) return (i + 1) * 0.002;
    }
    return -1;
  }
};

TEST(ControllerSlowPath, DynamicBoxIsBackWithinTwoSecondsOfAOneOffBurst) {
  Fixture f(0.9, 0, [](Config& c) { c.policy.mode = policy::Mode::Dynamic; });
  LoopSim sim{f};
  sim.run(0.0, 10);
  // 2 CPUs x 0.7 - the 0.5-core reserve: 0.9 cores while LS is quiet.
  ASSERT_NEAR(std::stod(f.quota()), 90000, 500) << f.ctl->status().dump(1);
  // A one-core LS burst of 0.5 s: cut within the fast window...
  const double cut = sim.run(1.0, 0.5, 0.4);
  EXPECT_GE(cut, 0);
  EXPECT_LE(cut, 0.012) << "not cut within the fast window";
  sim.run(1.0, 0.5 - std::max(cut, 0.0));
  EXPECT_LE(std::stod(f.quota()), 40000 + 500) << "LS leaves 1.4 - 1.0 - 0.5 < 0: the floor";
  // ...and back to 90% once it is over, within the 2 s goal.
  const double back = sim.run(0.0, 5, 0.81);
  std::cout << "quiet again: back to 90% after " << back << " s\n";
  EXPECT_GT(back, 0.5) << "the peak is held for at least min_peak_window";
  EXPECT_LE(back, 1.3) << "a one-off burst: back well within the 2 s goal";
}

TEST(ControllerFastPath, CounterGoingBackwardsIsNotDemand) {
  Fixture f(1.4);
  uint64_t t = 1000 * kMs, ls = 10'000 * kMs;
  EXPECT_EQ(feed(f, t, ls, 0.0, 5), -1);
  // A reading lower than the previous one (never expected, but never a
  // wrap-around to 2^64 ns of demand either).
  ClassTimes back;
  back.mono_ns = t + 2 * kMs;
  back.ls_ns = ls - 5 * kMs;
  f.ctl->on_fast_sample(back);
  EXPECT_EQ(f.quota(), "140000");
}

// The fast path is armed only while it can act: BE running (its cuts take
// from BE), or a cut the kernel refused. Beside an idle box the agent reads
// the demand every tick, not every 2 ms.
TEST(ControllerFastPath, ArmedOnlyWhileBeRuns) {
  Fixture f(1.4);
  EXPECT_TRUE(f.ctl->fast_path_armed()) << "nothing known yet";
  uint64_t t = 1000 * kMs, ls = 0;
  EXPECT_EQ(feed(f, t, ls, 1.0, 3, /*be_greedy=*/false), -1);
  EXPECT_FALSE(f.ctl->fast_path_armed()) << "BE ran nothing";
  EXPECT_EQ(f.ctl->status()["fast_path"]["armed"], false);
  EXPECT_EQ(f.ctl->status()["fast_path"]["samples"], 3);
  // BE under 1% of a core (a sleeping daemon) is idle too.
  f.be_ns += 10'000;  // 10 us in a 2 ms sample: 0.005 cores
  fast_sample(f, t, ls, 1.0, false);
  EXPECT_FALSE(f.ctl->fast_path_armed());
  fast_sample(f, t, ls, 0.2, true);
  EXPECT_TRUE(f.ctl->fast_path_armed()) << "BE runs";
  // One sample that saw no BE (a read that missed a running slice) does not
  // put it to sleep: BE is averaged over the fast window (10 ms).
  fast_sample(f, t, ls, 0.2, false);
  EXPECT_TRUE(f.ctl->fast_path_armed());
  feed(f, t, ls, 1.0, 5, /*be_greedy=*/false);
  ASSERT_FALSE(f.ctl->fast_path_armed()) << "a whole window without BE";
  // One sample at the idle spacing (a tick, 100 ms) in which BE started
  // beside LS at 1.5 cores: armed, and the cut is made from that sample.
  fast_sample(f, t, ls, 1.5, true, 100);
  EXPECT_TRUE(f.ctl->fast_path_armed());
  EXPECT_LT(std::stod(f.quota()), 140000) << f.ctl->status().dump(1);
}

// The kernel's BE wake arms the fast path for two fast windows, although
// the sample in which BE started (begun long before it) averages BE to 0.
TEST(ControllerFastPath, ABeWakeArmsItForTwoWindows) {
  Fixture f(1.4);
  uint64_t t = 1000 * kMs, ls = 0;
  EXPECT_EQ(feed(f, t, ls, 0.2, 2, /*be_greedy=*/false), -1);
  ASSERT_FALSE(f.ctl->fast_path_armed());
  f.ctl->on_be_running(t + 1 * kMs);
  EXPECT_TRUE(f.ctl->fast_path_armed());
  EXPECT_EQ(f.ctl->status()["fast_path"]["be_wakes"], 1);
  // BE ran 10 us of the next 2 ms: idle by the numbers, armed by the wake
  // until 2 x 10 ms after it.
  for (int i = 0; i < 10; i++) {
    f.be_ns += 10'000;
    fast_sample(f, t, ls, 0.2, false);
    EXPECT_TRUE(f.ctl->fast_path_armed()) << "sample " << i << " at " << t / kMs << " ms";
  }
  f.be_ns += 10'000;
  fast_sample(f, t, ls, 0.2, false);
  EXPECT_FALSE(f.ctl->fast_path_armed()) << "21 ms after the wake, BE still idle";
}

TEST(ControllerFastPath, ARefusedCutKeepsItArmedBesideAnIdleBox) {
  Fixture f(1.4);
  (*f.faults)["cpu.cfs_quota_us"] = EINVAL;
  uint64_t t = 1000 * kMs, ls = 0;
  test::StderrCapture cap;
  EXPECT_EQ(feed(f, t, ls, 1.6, 10), -1);
  // BE stops (for a whole fast window); the cut has not landed yet:
  // retried at every fast sample.
  EXPECT_EQ(feed(f, t, ls, 1.6, 7, /*be_greedy=*/false), -1);
  EXPECT_TRUE(f.ctl->fast_path_armed()) << "a refused cut is retried every fast_interval";
  f.faults->clear();
  EXPECT_EQ(feed(f, t, ls, 1.6, 1, false), 0) << "the retry lands";
  EXPECT_LT(std::stol(f.quota()), 140000);
  EXPECT_FALSE(f.ctl->fast_path_armed());
}

// An allowance under the quota's floor (0.01 cores) is not a cut waiting to
// land: the floor is what the box has.
TEST(ControllerFastPath, AnAllowanceUnderTheFloorIsNoPendingCut) {
  Fixture f(1.4, 0, [](Config& c) { c.policy.static_cpu_cores = 0; }, 4);
  uint64_t t = 1000 * kMs, ls = 0;
  feed(f, t, ls, 0.2, 3, /*be_greedy=*/false);
  EXPECT_EQ(f.quota(), "1000") << f.ctl->status().dump(1);
  EXPECT_FALSE(f.ctl->fast_path_armed());
}

TEST(ControllerFastPath, NeverArmedWithoutABoxToManage) {
  Fixture f(1.4, 0, [](Config& c) { c.cgroup.manage_bigbox = false; });
  uint64_t t = 1000 * kMs, ls = 0;
  EXPECT_EQ(feed(f, t, ls, 1.6, 5), -1);
  EXPECT_FALSE(f.ctl->fast_path_armed()) << "no cut is ever made: nothing to sample for";
}

TEST(ControllerSlowPath, FirstTickKeepsAnAdoptedBoxAndMemoryShrinksGradually) {
  // The fixture's first tick had no sample: the adopted quota stayed (checked
  // in the fast-path tests) and the memory limit was not touched.
  const uint64_t gib = 1ull << 30;
  Fixture f(1.4, 2 * gib);
  const std::string limit = f.tmp.path() + "/memory/colo.slice/bigbox/memory.limit_in_bytes";
  // Static policy with no memory: the target is 0 bytes, but BE holds 2 GiB.
  // The second tick shrank it by 1/16 of the usage, not to the 64 MiB floor.
  EXPECT_EQ(std::string(trim(read_file(limit).value_or("?"))), std::to_string(2 * gib - gib / 8));
  // The kernel reclaimed down to the limit; the next tick goes one step further.
  f.tmp.put("memory/colo.slice/bigbox/memory.usage_in_bytes", std::to_string(2 * gib - gib / 8));
  ClassTimes t;
  t.mono_ns = 1000 * kMs;
  f.clock.advance(std::chrono::milliseconds(100));
  f.ctl->tick(t);
  const uint64_t u = 2 * gib - gib / 8;
  EXPECT_EQ(std::string(trim(read_file(limit).value_or("?"))), std::to_string(u - u / 16));
}

// The memory limit is rewritten when the amount moved by 1 MiB or more, not
// at every tick for the pages MemAvailable moves by.
TEST(ControllerSlowPath, MemoryLimitIsNotRewrittenForMovesUnderAMiB) {
  const uint64_t mib = 1ull << 20;
  Fixture f(1.4, 0, [&](Config& c) { c.policy.static_memory_bytes = 4096 * mib; });
  const std::string limit = f.tmp.path() + "/memory/colo.slice/bigbox/memory.limit_in_bytes";
  ASSERT_EQ(read_file(limit), std::to_string(4096 * mib));
  ClassTimes t;
  t.mono_ns = 1000 * kMs;
  auto tick_with = [&](uint64_t bytes) {
    Config c = f.cfg;
    c.policy.static_memory_bytes = bytes;
    f.ctl->reconfigure(c);
    t.mono_ns += 100 * kMs;
    f.clock.advance(std::chrono::milliseconds(100));
    f.ctl->tick(t);
    return read_file(limit).value_or("?");
  };
  EXPECT_EQ(tick_with(4096 * mib + mib / 2), std::to_string(4096 * mib)) << "half a MiB up";
  EXPECT_EQ(tick_with(4096 * mib - mib / 2), std::to_string(4096 * mib)) << "half a MiB down";
  EXPECT_EQ(tick_with(4097 * mib), std::to_string(4097 * mib)) << "a MiB up";
  EXPECT_EQ(tick_with(4096 * mib - 4096), std::to_string(4096 * mib - 4096)) << "a MiB down";
  EXPECT_EQ(f.ctl->status()["bigbox"]["memory_limit_bytes"].get<uint64_t>(), 4096 * mib - 4096);
}

TEST(ControllerSlowPath, FirstTickLimitsAnUnlimitedBoxAtOnce) {
  // An unlimited box (created by someone else, or left by a crash before the
  // first write) is never left unlimited until the second tick.
  Fixture f(-1, 0, {}, 1);
  const std::string q = f.quota();
  ASSERT_NE(q, "-1");
  const long us = std::stol(q);
  EXPECT_GT(us, 0);
  EXPECT_LE(us, 140000) << "at most the target";
  // An adopted box keeps its quota on the first tick.
  Fixture g(0.9, 0, {}, 1);
  EXPECT_EQ(g.quota(), "90000");
}

// A restarted agent with the built-in dynamic policy adopts the box: the
// amount's smoothing starts from the box's quota and memory limit, so the
// box is not cut and made to climb back for a second or two after every
// restart (it was: the second tick cut 0.9 cores to 0.25).
TEST(ControllerSlowPath, RestartedDynamicAgentKeepsTheAdoptedBox) {
  // Half of what the dynamic policy allows this machine's memory now (from
  // the real /proc/meminfo; the test's own fixture box holds nothing).
  auto [total, avail] = read_meminfo();
  ASSERT_GT(total, 0u);
  policy::PolicyConfig d;
  const double raw = total * d.memory_watermark - static_cast<double>(total - avail) -
                     static_cast<double>(d.reserve_memory_bytes);
  ASSERT_GT(raw, 2.0 * (1ull << 30)) << "too little memory for the test";
  const uint64_t adopted = static_cast<uint64_t>(raw / 2) & ~4095ull;
  Fixture f(0.9, 0, [](Config& c) { c.policy.mode = policy::Mode::Dynamic; }, 2, adopted);
  const std::string limit = f.tmp.path() + "/memory/colo.slice/bigbox/memory.limit_in_bytes";
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(f.quota(), "90000") << "after tick " << i + 2 << "\n" << f.ctl->status().dump(1);
    EXPECT_GE(std::stoull(std::string(trim(read_file(limit).value_or("0")))), adopted)
        << "after tick " << i + 2;
    ClassTimes t;
    t.mono_ns = (1000 + 100 * i) * kMs;
    f.clock.advance(std::chrono::milliseconds(100));
    f.ctl->tick(t);
  }
}

// Memory pressure LS shares with BE (a limit above both, or global direct
// reclaim) lowers the box's memory limit below what BE holds, one step per
// pressured window, approached as the kernel reclaims; after the hold the
// limit follows the colocatable amount again. An LS cgroup reclaiming under
// a limit BE does not share, or too little, changes nothing.
struct MemRig {
  static constexpr uint64_t kMiB = 1ull << 20;
  Fixture f{1.4, 1024 * kMiB, [](Config& c) {
              c.policy.static_memory_bytes = 4096 * kMiB;
              c.controller.memory_pressure_hold = std::chrono::seconds(10);
            }};
  uint64_t t_ns = 1000 * kMs;
  const std::string limit = f.tmp.path() + "/memory/colo.slice/bigbox/memory.limit_in_bytes";
  MemRig() {
    f.tmp.put("memory/colo.slice/memory.failcnt", "5\n");
    tick();
    f.ctl->observe_ls_reclaim(1.0, {});  // the levels' counts as they are
  }
  void tick() {
    f.clock.advance(std::chrono::milliseconds(100));
    t_ns += 100 * kMs;
    ClassTimes t;
    t.mono_ns = t_ns;
    f.ctl->tick(t);
  }
  uint64_t limit_mib() { return std::stoull(read_file(limit).value_or("0")) / kMiB; }
  void usage(uint64_t mib) {
    f.tmp.put("memory/colo.slice/bigbox/memory.usage_in_bytes", std::to_string(mib * kMiB) + "\n");
  }
};

TEST(ControllerMemoryPressure, StallUnderALimitAboveTheBoxShrinksItBelowBeUntilTheHoldEnds) {
  MemRig r;
  ASSERT_EQ(r.limit_mib(), 4096u) << "the colocatable amount";
  // The level above the box and the LS cgroup hit its limit 4 times; LS
  // stalled 50 ms of the last second reclaiming under it.
  r.f.tmp.put("memory/colo.slice/memory.failcnt", "9\n");
  r.f.ctl->observe_ls_reclaim(1.0, {{"/colo.slice/ls", {0, 0.050}}});
  r.tick();
  // The cut is 1/8 of BE's 1 GiB below it (896 MiB); the kernel gets it
  // 1/16 (64 MiB) at a time.
  EXPECT_EQ(r.limit_mib(), 1024u - 64);
  auto st = r.f.ctl->status();
  EXPECT_NE(st.dump().find("memory pressure: LS tasks stalled 50ms in all in reclaim in the last 1.0s (most: "
                           "/colo.slice/ls); /colo.slice hit its memory limit 4 times; BE holds "
                           "1024 MiB"),
            std::string::npos)
      << st.dump(1);
  EXPECT_EQ(st["memory_pressure"]["memory_cap_bytes"], 896 * MemRig::kMiB) << st.dump(1);
  r.usage(960);  // the kernel reclaimed to the limit
  r.tick();
  EXPECT_EQ(r.limit_mib(), 896u);
  for (int i = 0; i < 50; i++) r.tick();
  EXPECT_EQ(r.limit_mib(), 896u) << "held while the pressure is recent";
  // Another pressured window: one more step below what BE holds now.
  r.usage(896);
  r.f.tmp.put("memory/colo.slice/memory.failcnt", "10\n");
  r.f.ctl->observe_ls_reclaim(1.0, {{"/colo.slice/ls", {0, 0.010}}});
  r.tick();
  EXPECT_EQ(r.limit_mib(), 896u - 64) << "896 - 1/16, towards 896 - 1/8";
  r.usage(832);
  r.tick();
  EXPECT_EQ(r.limit_mib(), 896u - 112);
  // Ten seconds without pressure: the colocatable amount again.
  for (int i = 0; i < 97; i++) r.tick();  // up to 9.9 s after the last pressured window
  EXPECT_EQ(r.limit_mib(), 896u - 112) << "not before the hold has passed";
  r.tick();
  EXPECT_EQ(r.limit_mib(), 4096u);
  EXPECT_NE(r.f.ctl->status().dump().find("memory pressure over"), std::string::npos);
  EXPECT_FALSE(r.f.ctl->status().contains("memory_pressure"));
}

TEST(ControllerMemoryPressure, OnlyStallBeSharesTheCauseOfCounts) {
  MemRig r;
  // An LS cgroup at its own limit: no level above the box was hit.
  r.f.ctl->observe_ls_reclaim(1.0, {{"/colo.slice/ls", {0, 0.5}}});
  r.tick();
  EXPECT_EQ(r.limit_mib(), 4096u) << "not BE's doing";
  // A level above the box was hit, but the stalled LS cgroup is not below it.
  r.f.tmp.put("memory/colo.slice/memory.failcnt", "6\n");
  r.f.ctl->observe_ls_reclaim(1.0, {{"/other/ls", {0, 0.5}}});
  r.tick();
  EXPECT_EQ(r.limit_mib(), 4096u) << "a limit BE does not share";
  // Global direct reclaim, under the threshold (1 ms per second)...
  r.f.ctl->observe_ls_reclaim(1.0, {{"/other/ls", {0.0005, 0}}});
  r.tick();
  EXPECT_EQ(r.limit_mib(), 4096u) << "too little to act on";
  // ...and over it: the node is short of memory and BE holds some.
  r.f.ctl->observe_ls_reclaim(1.0, {{"/other/ls", {0.004, 0}}});
  r.tick();
  EXPECT_EQ(r.limit_mib(), 1024u - 64);
  EXPECT_NE(r.f.ctl->status().dump().find("4ms of it in global direct reclaim"), std::string::npos)
      << r.f.ctl->status().dump(1);
}

// colo_bigbox_write_errors_total{file, error} as the controller exports it.
double write_errors(const Controller& ctl, const std::string& file, const std::string& error) {
  for (auto& fam : ctl.Collect()) {
    if (fam.name != "colo_bigbox_write_errors_total") continue;
    for (auto& m : fam.metric) {
      std::map<std::string, std::string> l;
      for (auto& p : m.label) l[p.name] = p.value;
      if (l["file"] == file && l["error"] == error) return m.counter.value;
    }
  }
  return 0;
}

// The kernel refuses a smaller memory limit while it cannot reclaim (EBUSY):
// the controller keeps the limit it last applied, retries on every tick,
// counts each failure and logs once; the limit lands once the kernel takes it.
TEST(ControllerWriteFaults, EbusyOnTheMemoryLimitIsRetriedCountedAndLoggedOnce) {
  const uint64_t gib = 1ull << 30;
  Fixture f(1.4, 2 * gib);
  const std::string limit = f.tmp.path() + "/memory/colo.slice/bigbox/memory.limit_in_bytes";
  const std::string applied = std::to_string(2 * gib - gib / 8);
  ASSERT_EQ(std::string(trim(read_file(limit).value_or("?"))), applied);
  (*f.faults)["memory.limit_in_bytes"] = EBUSY;
  f.tmp.put("memory/colo.slice/bigbox/memory.usage_in_bytes", applied);
  test::StderrCapture cap;
  ClassTimes t;
  for (int i = 0; i < 3; i++) {
    t.mono_ns = (1000 + 100 * i) * kMs;
    f.clock.advance(std::chrono::milliseconds(100));
    f.ctl->tick(t);
  }
  EXPECT_EQ(std::string(trim(read_file(limit).value_or("?"))), applied);
  EXPECT_EQ(f.ctl->status()["bigbox"]["memory_limit_bytes"].get<uint64_t>(), 2 * gib - gib / 8)
      << "the status shows what is applied, not what was wanted";
  EXPECT_EQ(write_errors(*f.ctl, "memory.limit_in_bytes", "EBUSY"), 3);
  f.faults->clear();
  t.mono_ns += 100 * kMs;
  f.clock.advance(std::chrono::milliseconds(100));
  f.ctl->tick(t);
  const std::string log = cap.text();
  const uint64_t u = 2 * gib - gib / 8;
  EXPECT_EQ(std::string(trim(read_file(limit).value_or("?"))), std::to_string(u - u / 16));
  EXPECT_EQ(count_of(log, "memory.limit_in_bytes failed"), 1u) << log;
  EXPECT_EQ(count_of(log, "memory.limit_in_bytes works again"), 1u) << log;
  EXPECT_EQ(write_errors(*f.ctl, "memory.limit_in_bytes", "EBUSY"), 3) << "a counter, not a gauge";
}

// EINVAL on the quota (a period or value the kernel rejects) during an LS
// burst: the quota file keeps its value, the fast path retries on the next
// samples and cuts as soon as the write goes through.
TEST(ControllerWriteFaults, EinvalOnTheQuotaKeepsTheLastQuotaAndRetries) {
  Fixture f(1.4);
  ASSERT_EQ(f.quota(), "140000");
  (*f.faults)["cpu.cfs_quota_us"] = EINVAL;
  uint64_t t = 1000 * kMs, ls = 0;
  test::StderrCapture cap;
  EXPECT_EQ(feed(f, t, ls, 1.6, 20), -1) << "the quota file must not change while writes fail";
  EXPECT_GE(write_errors(*f.ctl, "cpu.cfs_quota_us", "EINVAL"), 2) << "retried, every failure counted";
  EXPECT_DOUBLE_EQ(f.ctl->status()["bigbox"]["cpu_quota_cores"].get<double>(), 1.4);
  f.faults->clear();
  EXPECT_GE(feed(f, t, ls, 1.6, 5), 0) << "cut once the kernel takes the write";
  EXPECT_LT(std::stol(f.quota()), 140000);
  const std::string log = cap.text();
  EXPECT_EQ(count_of(log, "cpu.cfs_quota_us failed"), 1u) << log;
}

// EINVAL on cpuset.cpus (a CPU went offline between choosing and writing):
// the cpuset the controller applied stays, the box is never left empty.
TEST(ControllerWriteFaults, EinvalOnTheCpusetKeepsTheAppliedCpus) {
  Fixture f(1.4);
  const auto before = f.ctl->status()["bigbox"]["cpuset"].get<std::string>();
  const std::string file = f.tmp.path() + "/cpuset/colo.slice/bigbox/cpuset.cpus";
  const std::string content = read_file(file).value_or("?");
  (*f.faults)["cpuset.cpus"] = EINVAL;
  // LS busy on CPU 0 only: the controller wants to move the box off it.
  ClassTimes t;
  uint64_t ls0 = 0;
  for (int i = 0; i < 5; i++) {
    t.mono_ns = (1000 + 100 * i) * kMs;
    ls0 += 95 * kMs;
    t.ls_ns = ls0;
    t.ls_ns_by_cpu = {{0, ls0}, {1, 0}};
    f.clock.advance(std::chrono::milliseconds(100));
    f.ctl->tick(t);
  }
  EXPECT_EQ(read_file(file).value_or("?"), content);
  EXPECT_EQ(f.ctl->status()["bigbox"]["cpuset"].get<std::string>(), before);
  EXPECT_FALSE(before.empty());
}

// ENOSPC moving a task into the box (a v1 cpuset with no CPUs or memory
// nodes): add_task reports it, the failure is counted, and nothing is written
// anywhere else; a task that exited first (ESRCH) is counted, never logged.
TEST(BigBoxWriteFaults, EnospcMovingATaskIsReportedAndCounted) {
  Fixture f(1.4);
  std::string err;
  auto layout = CgroupLayout::from_tree(f.tmp.path(), &err);
  ASSERT_TRUE(layout) << err;
  int code = ENOSPC;
  std::vector<std::string> tried;
  BigBox::Options bo;
  bo.write_fn = [&](const std::string& path, std::string_view) {
    tried.push_back(path);
    return -code;
  };
  auto box = BigBox::open(*layout, bo, &err);
  ASSERT_TRUE(box) << err;
  test::StderrCapture cap;
  EXPECT_EQ(box->add_task(12345), -ENOSPC);
  code = ESRCH;
  EXPECT_EQ(box->add_task(12345), -ESRCH);
  const std::string log = cap.text();
  ASSERT_FALSE(tried.empty());
  for (auto& p : tried) EXPECT_TRUE(box->owns(p)) << p;
  uint64_t enospc = 0, esrch = 0;
  for (auto& [k, n] : box->write_errors()) {
    EXPECT_EQ(k.first, "cgroup.procs");
    if (k.second == "ENOSPC") enospc += n;
    if (k.second == "ESRCH") esrch += n;
  }
  EXPECT_EQ(enospc, tried.size() / 2);
  EXPECT_EQ(esrch, tried.size() / 2);
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  EXPECT_EQ(log.find("No such process"), std::string::npos) << log;
}

// A child of the test that sleeps until signalled; reaped on destruction.
struct Sleeper {
  pid_t pid = fork();
  Sleeper() {
    if (pid == 0) {
      pause();
      _exit(0);
    }
  }
  // The signal that ended it, 0 if it still runs after `ms`.
  int ended_by(int ms) {
    for (int i = 0; i < ms; i++) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
      }
      usleep(1000);
    }
    return 0;
  }
  ~Sleeper() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

TEST(ControllerEviction, StarvedBeEvictsTheLowestPriorityJobWhole) {
  Fixture f(1.4, 0, [](Config& c) {
    c.eviction.memory.enabled = false;
    c.eviction.ls_latency.enabled = false;
    c.eviction.cpu_satisfaction.sustain = std::chrono::seconds(0);
  });
  std::string err;
  auto layout = CgroupLayout::from_tree(f.tmp.path(), &err);
  ASSERT_TRUE(layout) << err;
  auto box = BigBox::open(*layout, {}, &err);
  ASSERT_TRUE(box) << err;
  ASSERT_TRUE(box->create_job("render", 5, &err)) << err;
  ASSERT_TRUE(box->create_job("batch", 1, &err)) << err;
  if (box->job_priority("batch") != 1) GTEST_SKIP() << "no trusted xattrs on " << f.tmp.path();
  // Real processes of this test stand for the jobs' tasks (a fixture tree
  // holds their pids): eviction signals only these.
  Sleeper a1, a2, b1;
  const std::string cpu = f.tmp.path() + "/cpu/colo.slice/bigbox/";
  f.tmp.put("cpu/colo.slice/bigbox/batch/cgroup.procs",
            std::to_string(a1.pid) + "\n" + std::to_string(a2.pid) + "\n");
  f.tmp.put("cpu/colo.slice/bigbox/render/cgroup.procs", std::to_string(b1.pid) + "\n");
  // BE got 0.1 s of CPU in a 1 s window while it waited 1.9 s for one:
  // satisfaction 0.05 < 0.30. "batch" (priority 1) ran 0.095 cores of it:
  // without it the policy estimates 0.05 x 0.1/0.005 = 1.0 >= the 0.50
  // release, so "render" (priority 5) stays.
  f.ctl->observe_be_cpu(1.0, 0.1, 1.9,
                        {{"/colo.slice/bigbox/batch", 0.095}, {"/colo.slice/bigbox/render", 0.005}});
  ClassTimes t;
  t.mono_ns = 1000 * kMs;
  f.clock.advance(std::chrono::milliseconds(100));
  f.ctl->tick(t);
  EXPECT_EQ(a1.ended_by(2000), SIGTERM) << "the lowest-priority job goes first";
  EXPECT_EQ(a2.ended_by(2000), SIGTERM) << "... whole";
  EXPECT_EQ(b1.ended_by(200), 0) << "one job was enough for the estimate";
  auto st = f.ctl->status().dump();
  EXPECT_NE(st.find("evict BE job:batch"), std::string::npos) << st;
}

TEST(ControllerEviction, NoBeDemandIsNoSatisfactionSignal) {
  Fixture f(1.4, 0, [](Config& c) {
    c.eviction.memory.enabled = false;
    c.eviction.ls_latency.enabled = false;
    c.eviction.cpu_satisfaction.sustain = std::chrono::seconds(0);
  });
  Sleeper a;
  f.tmp.put("cpu/colo.slice/bigbox/cgroup.procs", std::to_string(a.pid) + "\n");
  // An idle BE task: no CPU, no wait, nothing throttled.
  f.ctl->observe_be_cpu(1.0, 0.0, 0.0);
  ClassTimes t;
  t.mono_ns = 1000 * kMs;
  f.clock.advance(std::chrono::milliseconds(100));
  f.ctl->tick(t);
  EXPECT_EQ(a.ended_by(300), 0);
}

// Which urgent waits are BE's doing: ended by BE giving up the CPU, and not
// begun by losing the CPU to LS or system (then moved to a CPU BE was using).
TEST(ControllerUrgent, BeInTheWayOnlyWhenItWasThereAtTheEnd) {
  EXPECT_TRUE(Controller::be_in_way(COLO_CLASS_BE, COLO_CLASS_MAX)) << "not known where it began";
  EXPECT_TRUE(Controller::be_in_way(COLO_CLASS_BE, COLO_CLASS_BE))
      << "preempted by BE, or woken onto a CPU BE was running on";
  EXPECT_TRUE(Controller::be_in_way(COLO_CLASS_BE, COLO_CLASS_IDLE))
      << "woken onto an idle CPU, and BE got it first";
  EXPECT_FALSE(Controller::be_in_way(COLO_CLASS_BE, COLO_CLASS_LS))
      << "preempted by LS or woken behind LS, then pulled to a CPU BE was using";
  EXPECT_FALSE(Controller::be_in_way(COLO_CLASS_BE, COLO_CLASS_SYSTEM));
  EXPECT_FALSE(Controller::be_in_way(COLO_CLASS_LS, COLO_CLASS_MAX));
  EXPECT_FALSE(Controller::be_in_way(COLO_CLASS_LS, COLO_CLASS_BE)) << "LS ran last";
  EXPECT_FALSE(Controller::be_in_way(COLO_CLASS_IDLE, COLO_CLASS_MAX)) << "a slow idle wake-up";
}

}  // namespace
}  // namespace colo
