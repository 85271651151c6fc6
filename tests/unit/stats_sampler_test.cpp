#include "agent/stats_sampler.h"

#include <gtest/gtest.h>

#include <cmath>

namespace colo {
namespace {

constexpr uint64_t kMs = 1'000'000, kS = 1'000'000'000;

// The kernel's run-time stats as the sampler sees them: one program running
// at a steady rate, counted only while somebody holds the stats on.
struct FakeKernel {
  bool colo_on = false, others_on = false, refuse = false;
  double ns_per_s = 2e6, runs_per_s = 10'000;  // 2 ms of BPF a second, 10k runs
  double ns = 0, runs = 0;
  uint64_t t = 0, on_time = 0;
  int sets = 0, refusals = 0;

  void advance_to(uint64_t now) {
    if (colo_on || others_on) {
      ns += ns_per_s * double(now - t) / kS;
      runs += runs_per_s * double(now - t) / kS;
    }
    if (colo_on) on_time += now - t;
    t = now;
  }
  StatsSampler::Io io() {
    return {[this](bool on) {
              sets++;
              if (on && refuse) {
                refusals++;
                return false;
              }
              colo_on = on;
              return true;
            },
            [this] {
              return std::vector<bpf::ProgStats>{
                  {"colo_switch_btf", uint64_t(ns), uint64_t(runs)}};
            }};
  }
  // What the program really did since `from` (had the stats been on throughout).
  double true_ns(uint64_t from, uint64_t now) const { return ns_per_s * double(now - from) / kS; }
};

struct Reading {
  uint64_t ns = 0, runs = 0;
};

Reading read(StatsSampler& s, FakeKernel& k, uint64_t now) {
  k.advance_to(now);
  auto v = s.totals(now);
  EXPECT_EQ(v.size(), 1u);
  return v.empty() ? Reading{} : Reading{v[0].run_time_ns, v[0].run_cnt};
}

// Steps the sampler every `tick` from k.t to `until`, checking that the
// totals never go back.
void run(StatsSampler& s, FakeKernel& k, uint64_t until, uint64_t tick, Reading* last) {
  for (uint64_t t = k.t + tick; t <= until; t += tick) {
    k.advance_to(t);
    s.step(t);
    Reading r = read(s, k, t);
    ASSERT_GE(r.ns, last->ns) << "at " << t / kMs << " ms";
    ASSERT_GE(r.runs, last->runs) << "at " << t / kMs << " ms";
    *last = r;
  }
}

TEST(StatsSampler, AWindowAsLongAsThePeriodKeepsThemOnAndCountsExactly) {
  FakeKernel k;
  StatsSampler s(10 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  EXPECT_TRUE(s.on());
  run(s, k, 60 * kS, 100 * kMs, &last);
  EXPECT_TRUE(s.on());
  EXPECT_EQ(k.sets, 1) << "turned on once, never off";
  EXPECT_EQ(last.ns, uint64_t(k.ns));
  EXPECT_EQ(last.runs, uint64_t(k.runs));
}

TEST(StatsSampler, OnForTheWindowOfEveryPeriodAndTheTotalsFollowASteadyLoad) {
  FakeKernel k;
  StatsSampler s(1 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  const uint64_t end = 59 * kS + 900 * kMs;
  run(s, k, end, 100 * kMs, &last);
  // On a tenth of the time: 6 windows of 1 s, at 0, 10, ... 50 s (each
  // closed at the first tick past its end).
  EXPECT_NEAR(double(k.on_time) / end, 0.1, 0.005);
  EXPECT_EQ(s.windows(), 6u);
  // The kernel counted a tenth; the totals estimate the whole.
  EXPECT_NEAR(k.ns, 0.1 * k.true_ns(0, end), 0.005 * k.true_ns(0, end));
  EXPECT_NEAR(double(last.ns), k.true_ns(0, end), 0.01 * k.true_ns(0, end));
  EXPECT_NEAR(double(last.runs), k.runs_per_s * end / kS, 0.01 * k.runs_per_s * end / kS);
  // Between windows, at the rate the last one measured.
  Reading mid = read(s, k, 65 * kS);
  EXPECT_FALSE(s.on());
  EXPECT_NEAR(double(mid.ns - last.ns), k.true_ns(end, 65 * kS), 0.01 * k.true_ns(end, 65 * kS));
}

TEST(StatsSampler, ANewLoadShowsWithinAPeriod) {
  FakeKernel k;
  StatsSampler s(1 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  run(s, k, 30 * kS, 100 * kMs, &last);
  k.ns_per_s *= 4;  // the node gets busy
  run(s, k, 41 * kS + 200 * kMs, 100 * kMs, &last);  // the window at 40 s measured it
  const Reading a = last;
  run(s, k, 50 * kS, 100 * kMs, &last);
  EXPECT_NEAR(double(last.ns - a.ns), k.true_ns(41 * kS + 200 * kMs, 50 * kS),
              0.02 * k.true_ns(41 * kS + 200 * kMs, 50 * kS));
}

TEST(StatsSampler, OffFreezesTheTotalsAndOnOpensAWindowAtOnce) {
  FakeKernel k;
  StatsSampler s(1 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  run(s, k, 15 * kS, 100 * kMs, &last);
  s.set_enabled(false, 15 * kS);
  EXPECT_FALSE(k.colo_on);
  const Reading frozen = read(s, k, 15 * kS);
  run(s, k, 40 * kS, 100 * kMs, &last);
  EXPECT_FALSE(k.colo_on) << "stepping a disabled sampler turned the stats on";
  EXPECT_EQ(last.ns, frozen.ns);
  EXPECT_EQ(last.runs, frozen.runs);
  // Off in the middle of a window, too: what it measured so far is kept.
  s.set_enabled(true, 40 * kS);
  s.step(40 * kS);
  EXPECT_TRUE(k.colo_on);
  run(s, k, 40 * kS + 500 * kMs, 100 * kMs, &last);
  s.set_enabled(false, 40 * kS + 500 * kMs);
  EXPECT_FALSE(k.colo_on);
  EXPECT_NEAR(double(read(s, k, 45 * kS).ns - frozen.ns), k.true_ns(40 * kS, 40 * kS + 500 * kMs),
              1000);
}

TEST(StatsSampler, RefusedStatsAreAskedForOnceAPeriodAndNothingIsInvented) {
  FakeKernel k;
  k.refuse = true;
  StatsSampler s(1 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  run(s, k, 35 * kS, 100 * kMs, &last);
  EXPECT_EQ(k.refusals, 4) << "at 0, 10, 20 and 30 s";
  EXPECT_EQ(last.ns, 0u);
  EXPECT_EQ(last.runs, 0u);
}

TEST(StatsSampler, AnotherHolderBetweenWindowsIsNotCountedTwice) {
  FakeKernel k;
  StatsSampler s(1 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  run(s, k, 5 * kS, 100 * kMs, &last);
  k.others_on = true;  // bpftop, a benchmark, the sysctl
  run(s, k, 60 * kS, 100 * kMs, &last);
  EXPECT_NEAR(double(last.ns), k.true_ns(0, 60 * kS), 0.01 * k.true_ns(0, 60 * kS));
}

TEST(StatsSampler, ReconfiguredToAlwaysOnItStaysOn) {
  FakeKernel k;
  StatsSampler s(1 * kS, 10 * kS, k.io());
  Reading last;
  s.step(0);
  run(s, k, 5 * kS, 100 * kMs, &last);
  EXPECT_FALSE(k.colo_on);
  s.reconfigure(1 * kS, 10 * kS);  // a reload that kept them: no window before its time
  run(s, k, 6 * kS, 100 * kMs, &last);
  EXPECT_FALSE(k.colo_on);
  s.reconfigure(10 * kS, 10 * kS);
  run(s, k, 60 * kS, 100 * kMs, &last);
  EXPECT_TRUE(k.colo_on);
  EXPECT_TRUE(s.always_on());
  // And back: the open window closes at its new end.
  s.reconfigure(1 * kS, 10 * kS);
  run(s, k, 60 * kS + 100 * kMs, 100 * kMs, &last);
  EXPECT_FALSE(k.colo_on);
}

TEST(StatsSampler, BeforeAnyWindowTheTotalsAreTheKernelsOwn) {
  FakeKernel k;
  k.others_on = true;
  k.advance_to(3 * kS);
  StatsSampler s(1 * kS, 10 * kS, k.io());
  const Reading r = read(s, k, 3 * kS);
  EXPECT_EQ(r.ns, uint64_t(k.ns));
  s.step(3 * kS);
  EXPECT_EQ(read(s, k, 3 * kS).ns, uint64_t(k.ns)) << "where the totals start";
}

}  // namespace
}  // namespace colo
