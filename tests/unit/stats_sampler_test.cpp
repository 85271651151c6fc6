#include "agent/stats_sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

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

// A sampler on a fake kernel, stepped from time 0.
class StatsSamplerTest : public ::testing::Test {
 protected:
  StatsSampler& start(uint64_t window_ns, uint64_t period_ns) {
    sampler_ = std::make_unique<StatsSampler>(window_ns, period_ns, k.io());
    sampler_->step(k.t);
    return *sampler_;
  }
  // Steps it every 100 ms up to `until`; the totals never go back.
  void run_to(uint64_t until) { run(*sampler_, k, until, 100 * kMs, &last); }

  FakeKernel k;
  Reading last;

 private:
  std::unique_ptr<StatsSampler> sampler_;
};

TEST_F(StatsSamplerTest, AWindowAsLongAsThePeriodKeepsThemOnAndCountsExactly) {
  StatsSampler& s = start(10 * kS, 10 * kS);
  EXPECT_TRUE(s.on());
  run_to(60 * kS);
  EXPECT_TRUE(s.on());
  EXPECT_EQ(k.sets, 1) << "turned on once, never off";
  EXPECT_EQ(last.ns, uint64_t(k.ns));
  EXPECT_EQ(last.runs, uint64_t(k.runs));
}

TEST_F(StatsSamplerTest, OnForTheWindowOfEveryPeriodAndTheTotalsFollowASteadyLoad) {
  StatsSampler& s = start(1 * kS, 10 * kS);
  const uint64_t end = 59 * kS + 900 * kMs;
  run_to(end);
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

TEST_F(StatsSamplerTest, ANewLoadShowsWithinAPeriod) {
  start(1 * kS, 10 * kS);
  run_to(30 * kS);
  k.ns_per_s *= 4;  // the node gets busy
  run_to(41 * kS + 200 * kMs);  // the window at 40 s measured it
  const Reading a = last;
  run_to(50 * kS);
  EXPECT_NEAR(double(last.ns - a.ns), k.true_ns(41 * kS + 200 * kMs, 50 * kS),
              0.02 * k.true_ns(41 * kS + 200 * kMs, 50 * kS));
}

TEST_F(StatsSamplerTest, OffFreezesTheTotalsAndOnOpensAWindowAtOnce) {
  StatsSampler& s = start(1 * kS, 10 * kS);
  run_to(15 * kS);
  s.set_enabled(false, 15 * kS);
  EXPECT_FALSE(k.colo_on);
  const Reading frozen = read(s, k, 15 * kS);
  run_to(40 * kS);
  EXPECT_FALSE(k.colo_on) << "stepping a disabled sampler turned the stats on";
  EXPECT_EQ(last.ns, frozen.ns);
  EXPECT_EQ(last.runs, frozen.runs);
  // Off in the middle of a window, too: what it measured so far is kept.
  s.set_enabled(true, 40 * kS);
  s.step(40 * kS);
  EXPECT_TRUE(k.colo_on);
  run_to(40 * kS + 500 * kMs);
  s.set_enabled(false, 40 * kS + 500 * kMs);
  EXPECT_FALSE(k.colo_on);
  EXPECT_NEAR(double(read(s, k, 45 * kS).ns - frozen.ns), k.true_ns(40 * kS, 40 * kS + 500 * kMs),
              1000);
}

TEST_F(StatsSamplerTest, RefusedStatsAreAskedForOnceAPeriodAndNothingIsInvented) {
  k.refuse = true;
  start(1 * kS, 10 * kS);
  run_to(35 * kS);
  EXPECT_EQ(k.refusals, 4) << "at 0, 10, 20 and 30 s";
  EXPECT_EQ(last.ns, 0u);
  EXPECT_EQ(last.runs, 0u);
}

TEST_F(StatsSamplerTest, AnotherHolderBetweenWindowsIsNotCountedTwice) {
  start(1 * kS, 10 * kS);
  run_to(5 * kS);
  k.others_on = true;  // bpftop, a benchmark, the sysctl
  run_to(60 * kS);
  EXPECT_NEAR(double(last.ns), k.true_ns(0, 60 * kS), 0.01 * k.true_ns(0, 60 * kS));
}

TEST_F(StatsSamplerTest, ReconfiguredToAlwaysOnItStaysOn) {
  StatsSampler& s = start(1 * kS, 10 * kS);
  run_to(5 * kS);
  EXPECT_FALSE(k.colo_on);
  s.reconfigure(1 * kS, 10 * kS);  // a reload that kept them: no window before its time
  run_to(6 * kS);
  EXPECT_FALSE(k.colo_on);
  s.reconfigure(10 * kS, 10 * kS);
  run_to(60 * kS);
  EXPECT_TRUE(k.colo_on);
  EXPECT_TRUE(s.always_on());
  // And back: the open window closes at its new end.
  s.reconfigure(1 * kS, 10 * kS);
  run_to(60 * kS + 100 * kMs);
  EXPECT_FALSE(k.colo_on);
}

TEST_F(StatsSamplerTest, BeforeAnyWindowTheTotalsAreTheKernelsOwn) {
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
