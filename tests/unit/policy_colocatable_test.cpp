#include "agent/policy/colocatable.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace colo::policy {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

constexpr uint64_t GiB = 1ull << 30;

// 2024-01-01 was a Monday; day 0 = Monday, 4 = Friday, 6 = Sunday.
WallTime at(int day, int h, int m, int s = 0) {
  return WallTime(sys_days(year(2024) / January / 1).time_since_epoch()) + days(day) + hours(h) +
         minutes(m) + seconds(s);
}

PolicyConfig base_config() {
  PolicyConfig c;
  c.utc_offset_minutes = 0;
  c.peak_window = 0s;
  c.grow_time_constant = 0s;
  c.stop_growing_before = 0s;
  c.grace_period = 0s;
  return c;
}

TimeWindow window(std::string name, uint8_t days, const char* start, const char* end, Level l,
                  double fraction = 0) {
  auto minute = [](const char* hhmm) { return std::stoi(hhmm) * 60 + std::stoi(hhmm + 3); };
  TimeWindow w;
  w.name = std::move(name);
  w.days = days;
  w.start_minute = minute(start);
  w.end_minute = minute(end);
  w.level = {l, l == Level::On ? 1.0 : l == Level::Off ? 0.0 : fraction};
  return w;
}

constexpr uint8_t kAll = 0x7f, kFri = 1 << 4, kSun = 1 << 6, kWeekdays = 0x1f;

struct Rig {
  explicit Rig(PolicyConfig cfg, WallTime wall = at(0, 12, 0)) : policy(cfg), clock(wall) {}
  // Observes a node sample at the current time and evaluates.
  Colocatable feed(double ls_cpu, double sys_cpu = 1.0, uint64_t ls_mem = 20 * GiB,
                   uint64_t sys_mem = 1 * GiB) {
    NodeSample s;
    s.at = clock.now_mono();
    s.capacity_cpu_cores = 16;
    s.capacity_memory_bytes = 64 * GiB;
    s.ls_cpu_cores = ls_cpu;
    s.system_cpu_cores = sys_cpu;
    s.ls_memory_bytes = ls_mem;
    s.system_memory_bytes = sys_mem;
    s.be_cpu_cores = 3;
    policy.observe(s);
    return policy.update(clock);
  }
  ColocatablePolicy policy;
  FakeClock clock;
};

TEST(PolicyColocatable, DynamicMath) {
  Rig r(base_config());
  Colocatable c = r.feed(5.2, 1.0);
  EXPECT_NEAR(c.cpu_cores, 16 * 0.70 - 5.2 - 1.0, 1e-9);
  EXPECT_NEAR(static_cast<double>(c.memory_bytes), 64.0 * GiB * 0.80 - 20.0 * GiB - 1.0 * GiB,
              1.0);
  EXPECT_EQ(c.mode, "dynamic");
  EXPECT_EQ(c.phase, Phase::Normal);
  EXPECT_EQ(c.window, -1);
  EXPECT_DOUBLE_EQ(c.level, 1.0);
  EXPECT_DOUBLE_EQ(c.be_cpu_cores, 3);
  EXPECT_NE(c.reason.find("dynamic: cpu 16.00 x 0.70 - LS 5.20 - system 1.00 = 5.00 cores"),
            std::string::npos)
      << c.reason;
}

TEST(PolicyColocatable, SystemReserveIsAFloorAndResultIsFlooredAtZero) {
  PolicyConfig cfg = base_config();
  cfg.reserve_cpu_cores = 2.0;
  Rig r(cfg);
  Colocatable c = r.feed(4.0, 0.3);
  EXPECT_NEAR(c.cpu_cores, 11.2 - 4.0 - 2.0, 1e-9);
  EXPECT_NE(c.reason.find("system 2.00 (reserve)"), std::string::npos) << c.reason;
  r.clock.advance(1s);
  c = r.feed(15.0, 3.0, 60 * GiB);
  EXPECT_EQ(c.cpu_cores, 0);
  EXPECT_EQ(c.memory_bytes, 0u);
}

TEST(PolicyColocatable, SpikeLowersAtOnceRecoveryIsSlow) {
  PolicyConfig cfg = base_config();
  cfg.peak_window = 10s;
  cfg.min_peak_window = 10s;  // a fixed hold
  cfg.grow_time_constant = 10s;
  Rig r(cfg);
  for (int i = 0; i < 300; i++, r.clock.advance(1s)) r.feed(2.0);  // settle
  EXPECT_NEAR(r.feed(2.0).cpu_cores, 8.2, 1e-9);
  r.clock.advance(1s);
  EXPECT_NEAR(r.feed(10.0).cpu_cores, 0.2, 1e-9) << "a spike lowers at once";
  // The spike stays in the peak window for 10 s: quiet samples do not reopen.
  for (int i = 1; i <= 10; i++) {
    r.clock.advance(1s);
    EXPECT_NEAR(r.feed(2.0).cpu_cores, 0.2, 1e-9) << i << "s after the spike";
  }
  // Then the amount climbs with the 10 s time constant, not at once.
  r.clock.advance(1s);
  double one = r.feed(2.0).cpu_cores;
  EXPECT_NEAR(one, 0.2 + 8.0 * (1 - std::exp(-0.1)), 1e-6);
  for (int i = 0; i < 29; i++, r.feed(2.0)) r.clock.advance(1s);
  double thirty = r.policy.update(r.clock).cpu_cores;
  EXPECT_NEAR(thirty, 8.2 - 8.0 * std::exp(-3.0), 1e-6);
  EXPECT_NE(r.policy.update(r.clock).reason.find("rising"), std::string::npos);
}

// The built-in smoothing, fed every 100 ms (the controller's tick) with LS
// at `ls` for `seconds`; returns the amounts, and appends the hold changes
// reported ("change: why") to `holds`.
std::vector<double> run(Rig& r, double ls, double seconds,
                        std::vector<std::string>* holds = nullptr) {
  std::vector<double> out;
  for (int i = 0; i < static_cast<int>(std::lround(seconds * 10)); i++) {
    r.clock.advance(100ms);
    auto c = r.feed(ls);
    out.push_back(c.cpu_cores);
    EXPECT_EQ(c.hold_change.empty(), c.hold_change_why.empty());
    if (holds && !c.hold_change.empty()) holds->push_back(c.hold_change + ": " + c.hold_change_why);
  }
  return out;
}

// Seconds until the amount is back to >= 90% of `before` (-1: never).
double back_after(const std::vector<double>& amounts, double before) {
  for (size_t i = 0; i < amounts.size(); i++)
    if (amounts[i] >= 0.9 * before) return (i + 1) * 0.1;
  return -1;
}

PolicyConfig builtin_smoothing() {
  PolicyConfig cfg = base_config();
  PolicyConfig d;
  cfg.peak_window = d.peak_window;
  cfg.min_peak_window = d.min_peak_window;
  cfg.grow_time_constant = d.grow_time_constant;
  return cfg;
}

TEST(PolicyColocatable, OneOffBurstIsLetGoAfterTheShortHold) {
  Rig r(builtin_smoothing());
  run(r, 2.0, 30);
  const double before = r.feed(2.0).cpu_cores;
  EXPECT_NEAR(before, 8.2, 1e-6);
  auto burst = run(r, 10.0, 1.0);
  EXPECT_NEAR(burst.front(), 0.2, 1e-9) << "a burst lowers at once";
  auto after = run(r, 2.0, 5.0);
  // Held for min_peak_window (500 ms): the quiet samples right after the
  // burst do not reopen the box.
  for (int i = 0; i < 4; i++) EXPECT_NEAR(after[i], 0.2, 1e-9) << (i + 1) * 100 << " ms after";
  double back = back_after(after, before);
  EXPECT_GT(back, 0.5);
  EXPECT_LE(back, 1.5) << "a one-off burst: back within the 2 s the control loop has";
  EXPECT_NE(r.feed(2.0).reason.find("peaks of the last 500ms"), std::string::npos)
      << r.feed(2.0).reason;
}

TEST(PolicyColocatable, RecurringBurstsLengthenTheHoldSoTheGapsStayClosed) {
  Rig r(builtin_smoothing());
  run(r, 2.0, 30);
  // LS bursts of 0.5 s with 1.2 s gaps: the first gaps reopen the box (hold
  // 500 ms), then the hold grows past the gap and the box stays closed.
  std::vector<double> gap_max;
  std::vector<std::string> holds;
  for (int period = 0; period < 8; period++) {
    run(r, 10.0, 0.5, &holds);
    auto gap = run(r, 2.0, 1.2, &holds);
    gap_max.push_back(*std::max_element(gap.begin(), gap.end()));
  }
  // Each change of the hold is reported, with the return that caused it.
  ASSERT_EQ(holds.size(), 2u) << ::testing::PrintToString(holds);
  EXPECT_EQ(holds[0].rfind("500ms -> 1.0s: LS and system came back to 11.00 cores", 0), 0u)
      << holds[0];
  EXPECT_NE(holds[0].find("after falling from 11.00 to 3.00: bursts recur"), std::string::npos)
      << holds[0];
  EXPECT_EQ(holds[1].rfind("1.0s -> 2.0s: ", 0), 0u) << holds[1];
  EXPECT_GT(gap_max.front(), 2.0) << "the first gap reopened the box";
  for (size_t i = 3; i < gap_max.size(); i++)
    EXPECT_NEAR(gap_max[i], 0.2, 1e-9) << "gap " << i << " reopened the box";
  // The bursts stop after one more: the learned hold (2 s) keeps the box
  // closed longer this time, and is halved back by the releases that follow.
  EXPECT_NE(r.policy.update(r.clock).reason.find("peaks of the last 2.0s"), std::string::npos)
      << r.policy.update(r.clock).reason;
  run(r, 10.0, 0.5);
  auto calm = run(r, 2.0, 10);
  double first = back_after(calm, 8.2);
  EXPECT_GT(first, 1.5) << "the recurring pattern was not remembered";
  double last = 0;
  holds.clear();
  for (int i = 0; i < 4; i++) {
    run(r, 10.0, 0.5, &holds);
    last = back_after(run(r, 2.0, 10, &holds), 8.2);
  }
  ASSERT_FALSE(holds.empty());
  EXPECT_NE(holds.back().find("-> 500ms: LS and system did not come back half way to 11.00 cores"),
            std::string::npos)
      << holds.back();
  EXPECT_GT(last, 0);
  EXPECT_LE(last, 1.5) << "the hold did not shrink back after one-off bursts";
}

TEST(PolicyColocatable, NoiseBelowTheMarginDoesNotAdaptTheHold) {
  Rig r(builtin_smoothing());
  run(r, 2.0, 30);
  // LS wobbles up by 0.5 cores (< 5% of 16 cores) for 300 ms every 1.2 s
  // for a minute: were that a burst, the hold would grow to 2 s.
  std::vector<std::string> holds;
  for (int i = 0; i < 50; i++) {
    run(r, 2.5, 0.3, &holds);
    run(r, 2.0, 0.9, &holds);
  }
  EXPECT_TRUE(holds.empty()) << holds.front();
  run(r, 10.0, 0.5);
  double back = back_after(run(r, 2.0, 5), 8.2);
  EXPECT_GT(back, 0);
  EXPECT_LE(back, 1.5) << "small wobbles were taken for recurring bursts";
}

TEST(PolicyColocatable, SwingsUnderHalfTheRangeDoNotTeachTheHold) {
  Rig r(builtin_smoothing());
  run(r, 2.0, 30);
  // LS swings up by 4 cores (over the noise margin, under half of the
  // 16 x 0.7 - 0.5 = 10.7 cores the amount moves in) for 300 ms every 1.2 s:
  // background that would otherwise read as recurring bursts.
  std::vector<std::string> holds;
  double low = 1e9;
  for (int i = 0; i < 50; i++) {
    for (double a : run(r, 6.0, 0.3, &holds)) low = std::min(low, a);
    run(r, 2.0, 0.9, &holds);
  }
  EXPECT_NEAR(low, 4.2, 1e-6) << "each swing lowers the amount";
  EXPECT_TRUE(holds.empty()) << holds.front();
  // A real burst after them is let go after the short hold.
  run(r, 10.0, 0.5);
  double back = back_after(run(r, 2.0, 5), 8.2);
  EXPECT_GT(back, 0);
  EXPECT_LE(back, 1.5) << "swings were taken for recurring bursts";
}

TEST(PolicyColocatable, RiseDoesNotDependOnUpdateRate) {
  PolicyConfig cfg = base_config();
  cfg.grow_time_constant = 4s;
  Rig fast(cfg), slow(cfg);
  fast.feed(10);
  slow.feed(10);
  for (int i = 0; i < 40; i++) {
    fast.clock.advance(100ms);
    fast.feed(2);
  }
  slow.clock.advance(4s);
  EXPECT_NEAR(fast.policy.update(fast.clock).cpu_cores, slow.feed(2).cpu_cores, 1e-9);
}

TEST(PolicyColocatable, CpuIfUsedIsWhatTheNextUpdateFallsTo) {
  PolicyConfig cfg = base_config();
  cfg.reserve_cpu_cores = 2.0;
  cfg.peak_window = 10s;
  cfg.windows = {window("office", kWeekdays, "09:00", "18:00", Level::Reduced, 0.5)};
  Rig r(cfg, at(5, 12, 0));  // a Saturday: level 1
  EXPECT_FALSE(r.policy.cpu_if_used(1, 1)) << "no sample yet";
  r.feed(2.0, 0.5);
  // 11.2 - 6 - max(reserve 2, system 0.5) = 3.2; system above the reserve counts.
  ASSERT_TRUE(r.policy.cpu_if_used(6.0, 0.5));
  EXPECT_NEAR(*r.policy.cpu_if_used(6.0, 0.5), 3.2, 1e-9);
  EXPECT_NEAR(*r.policy.cpu_if_used(6.0, 3.0), 2.2, 1e-9);
  EXPECT_EQ(*r.policy.cpu_if_used(12.0, 3.0), 0) << "never negative";
  r.clock.advance(100ms);
  EXPECT_NEAR(r.feed(6.0, 0.5).cpu_cores, 3.2, 1e-9) << "the update agrees";
  // At a reduced level the amount is scaled the same way.
  Rig office(cfg, at(0, 12, 0));
  office.feed(2.0, 0.5);
  EXPECT_NEAR(*office.policy.cpu_if_used(6.0, 0.5), 1.6, 1e-9);
  // Static and off amounts do not follow LS use: nothing to fall to.
  cfg.mode = Mode::Static;
  cfg.static_cpu_cores = 4;
  Rig st(cfg);
  st.feed(1.0);
  EXPECT_FALSE(st.policy.cpu_if_used(10, 1));
}

TEST(PolicyColocatable, StaticIsFixedAndCappedByWatermark) {
  PolicyConfig cfg = base_config();
  cfg.mode = Mode::Static;
  cfg.static_cpu_cores = 4;
  cfg.static_memory_bytes = 8 * GiB;
  Rig r(cfg);
  Colocatable c = r.feed(12.0);  // LS use does not matter
  EXPECT_DOUBLE_EQ(c.cpu_cores, 4);
  EXPECT_EQ(c.memory_bytes, 8 * GiB);
  EXPECT_EQ(c.mode, "static");
  cfg.static_cpu_cores = 20;
  r.policy.reconfigure(cfg);
  c = r.feed(0);
  EXPECT_NEAR(c.cpu_cores, 16 * 0.7, 1e-9);
  EXPECT_NE(c.reason.find("capped"), std::string::npos) << c.reason;
}

TEST(PolicyColocatable, OffIsZero) {
  PolicyConfig cfg = base_config();
  cfg.mode = Mode::Off;
  Rig r(cfg);
  Colocatable c = r.feed(0);
  EXPECT_EQ(c.cpu_cores, 0);
  EXPECT_EQ(c.memory_bytes, 0u);
  EXPECT_EQ(c.phase, Phase::Off);
  EXPECT_STREQ(phase_name(c.phase), "off");
}

TEST(PolicyColocatable, StaleOrMissingSignalsDegradeToZero) {
  PolicyConfig cfg = base_config();
  cfg.stale_after = 5s;
  cfg.grow_time_constant = 10s;
  Rig r(cfg);
  Colocatable c = r.policy.update(r.clock);
  EXPECT_EQ(c.phase, Phase::Stale);
  EXPECT_EQ(c.cpu_cores, 0);
  EXPECT_NE(c.reason.find("no node sample yet"), std::string::npos);

  c = r.feed(2.0);
  EXPECT_EQ(c.phase, Phase::Normal);
  EXPECT_LT(c.cpu_cores, 1.0) << "after a blind period the amount is earned back slowly";
  r.clock.advance(60s);
  c = r.feed(2.0);
  EXPECT_NEAR(c.cpu_cores, 8.2, 0.03);

  r.clock.advance(5s);
  EXPECT_EQ(r.policy.update(r.clock).phase, Phase::Normal) << "exactly stale_after is still fresh";
  r.clock.advance(1s);
  c = r.policy.update(r.clock);
  EXPECT_EQ(c.phase, Phase::Stale);
  EXPECT_EQ(c.cpu_cores, 0);
  EXPECT_EQ(c.memory_bytes, 0u);
  EXPECT_NE(c.reason.find("no node sample for 6.0s"), std::string::npos) << c.reason;

  // Unusable samples count as missing.
  NodeSample bad;
  bad.at = r.clock.now_mono();
  bad.capacity_cpu_cores = 16;  // no memory capacity
  r.policy.observe(bad);
  bad.capacity_memory_bytes = GiB;
  bad.ls_cpu_cores = NAN;
  r.policy.observe(bad);
  EXPECT_EQ(r.policy.update(r.clock).phase, Phase::Stale);
}

// An agent that adopts a box seeds the smoothing with what the box has: the
// amount starts there (not at zero) and only falls at once or rises slowly
// from it. A seed is ignored once samples have arrived, and stale signals
// afterwards still degrade to zero.
TEST(PolicyColocatable, SeedFromAnAdoptedBoxIsWhereTheAmountStarts) {
  PolicyConfig cfg = base_config();
  cfg.grow_time_constant = 10s;
  Rig r(cfg);
  r.policy.seed(6.0, 30.0 * GiB);
  EXPECT_EQ(r.policy.update(r.clock).phase, Phase::Stale) << "blind before the first sample";
  r.clock.advance(100ms);
  Colocatable c = r.feed(2.0);  // raw: 8.2 cores, 64 x 0.8 - 21 = 30.2 GiB
  EXPECT_NEAR(c.cpu_cores, 6.0 + 2.2 * (1 - std::exp(-0.01)), 1e-6) << "rises from the seed";
  EXPECT_NEAR(static_cast<double>(c.memory_bytes), 30.0 * GiB + 0.2 * GiB * (1 - std::exp(-0.01)),
              2.0);
  r.clock.advance(100ms);
  EXPECT_NEAR(r.feed(10.0).cpu_cores, 0.2, 1e-9) << "falls at once, seed or not";
  r.policy.seed(8.0, 40.0 * GiB);  // too late: samples came
  r.clock.advance(100ms);
  EXPECT_LT(r.feed(2.0).cpu_cores, 0.5);

  // Only the resource given is seeded; nothing seeded rises from zero.
  Rig m(cfg);
  m.policy.seed(std::nullopt, 30.0 * GiB);
  c = m.feed(2.0);
  EXPECT_NEAR(c.cpu_cores, 0, 1e-9);
  EXPECT_NEAR(static_cast<double>(c.memory_bytes), 30.0 * GiB, 2.0);
  // Stale after the samples stopped: zero, and the seed does not come back.
  m.clock.advance(6s);
  EXPECT_EQ(m.policy.update(m.clock).memory_bytes, 0u);
  m.clock.advance(100ms);
  EXPECT_LT(static_cast<double>(m.feed(2.0).memory_bytes), 1.0 * GiB);
}

TEST(PolicyColocatable, WindowsAcrossMidnightAndWeekdays) {
  PolicyConfig cfg = base_config();
  cfg.windows = {window("fri-night", kFri, "22:00", "06:00", Level::Off),
                 window("office", kWeekdays, "09:00", "18:00", Level::Reduced, 0.5),
                 window("sun-late", kSun, "23:00", "01:00", Level::Reduced, 0.25)};
  auto lvl = [&](WallTime t) {
    LocalTime lt = local_time(t, 0);
    return level_at(cfg, lt.weekday * 1440 + lt.minute_of_day);
  };
  EXPECT_EQ(lvl(at(4, 21, 59)).fraction, 1.0);
  EXPECT_EQ(lvl(at(4, 22, 0)).fraction, 0.0);
  EXPECT_EQ(lvl(at(4, 22, 0)).window, 0);
  EXPECT_EQ(lvl(at(5, 5, 59)).fraction, 0.0) << "Friday's window runs into Saturday";
  EXPECT_EQ(lvl(at(5, 6, 0)).fraction, 1.0);
  EXPECT_EQ(lvl(at(3, 23, 0)).fraction, 1.0) << "not on Thursday";
  EXPECT_EQ(lvl(at(0, 1, 0)).fraction, 1.0) << "nor early Monday (it belongs to Sunday)";
  EXPECT_EQ(lvl(at(4, 12, 0)).fraction, 0.5);
  EXPECT_EQ(lvl(at(5, 12, 0)).fraction, 1.0) << "office hours are weekdays only";
  // Sunday 23:00 -> Monday 01:00 wraps around the end of the week.
  EXPECT_EQ(lvl(at(6, 22, 59)).fraction, 1.0);
  EXPECT_EQ(lvl(at(6, 23, 30)).fraction, 0.25);
  EXPECT_EQ(lvl(at(7, 0, 30)).fraction, 0.25);
  EXPECT_EQ(lvl(at(7, 0, 30)).window, 2);
  EXPECT_EQ(lvl(at(7, 1, 0)).fraction, 1.0);
}

TEST(PolicyColocatable, OverlappingWindowsMostRestrictiveWinsAndDefaultLevelOutside) {
  PolicyConfig cfg = base_config();
  cfg.default_level = {Level::Off, 0.0};
  cfg.windows = {window("night", kAll, "20:00", "08:00", Level::On),
                 window("backup", kAll, "02:00", "04:00", Level::Reduced, 0.3),
                 window("batch", kAll, "01:00", "03:00", Level::Reduced, 0.6)};
  Rig r(cfg, at(2, 12, 0));
  Colocatable c = r.feed(2.0);
  EXPECT_EQ(c.cpu_cores, 0) << "off outside every window";
  EXPECT_EQ(c.phase, Phase::Off);
  r.clock.set_wall(at(2, 21, 0));
  c = r.feed(2.0);
  EXPECT_NEAR(c.cpu_cores, 8.2, 1e-9);
  EXPECT_EQ(c.window_name, "night");
  r.clock.set_wall(at(3, 2, 30));
  c = r.feed(2.0);
  EXPECT_NEAR(c.cpu_cores, 8.2 * 0.3, 1e-9);
  EXPECT_EQ(c.window_name, "backup");
  EXPECT_NE(c.reason.find("window 'backup': level 0.30"), std::string::npos) << c.reason;
}

TEST(PolicyColocatable, StopGrowingBeforeTheLevelFalls) {
  PolicyConfig cfg = base_config();
  cfg.windows = {window("night", kAll, "22:00", "06:00", Level::Off)};
  cfg.stop_growing_before = 30min;
  Rig r(cfg, at(1, 21, 29));
  EXPECT_NEAR(r.feed(6.0).cpu_cores, 4.2, 1e-9);
  r.clock.advance(59s);
  Colocatable c = r.feed(6.0);
  EXPECT_EQ(c.phase, Phase::Normal) << "30m01s before: not yet";
  r.clock.advance(2s);  // 21:30:01
  c = r.feed(2.0);  // LS quietens: the dynamic amount would grow to 8.2
  EXPECT_EQ(c.phase, Phase::Frozen);
  EXPECT_NEAR(c.cpu_cores, 4.2, 1e-9);
  EXPECT_NE(c.reason.find("level falls to 0.00 (window 'night') in 29m59s: not growing"),
            std::string::npos)
      << c.reason;
  r.clock.advance(10min);
  c = r.feed(9.0);  // shrinking stays allowed
  EXPECT_NEAR(c.cpu_cores, 1.2, 1e-9);
  r.clock.advance(1min);
  EXPECT_NEAR(r.feed(2.0).cpu_cores, 1.2, 1e-9) << "and does not grow back";
  r.clock.set_wall(at(1, 22, 0));
  c = r.feed(2.0);
  EXPECT_EQ(c.cpu_cores, 0);
  EXPECT_EQ(c.phase, Phase::Off);
}

TEST(PolicyColocatable, GraceRampsDownLinearly) {
  PolicyConfig cfg = base_config();
  cfg.mode = Mode::Static;
  cfg.static_cpu_cores = 8;
  cfg.static_memory_bytes = 16 * GiB;
  cfg.windows = {window("evening", kAll, "22:00", "23:00", Level::Reduced, 0.5),
                 window("night", kAll, "23:00", "06:00", Level::Off)};
  cfg.grace_period = 10min;
  Rig r(cfg, at(0, 21, 59));
  EXPECT_EQ(r.feed(0).cpu_cores, 8);
  r.clock.advance(1min);  // 22:00, level 0.5: ramp 8 -> 4 over 10 minutes
  Colocatable c = r.feed(0);
  EXPECT_EQ(c.phase, Phase::Grace);
  EXPECT_DOUBLE_EQ(c.cpu_cores, 8);
  r.clock.advance(5min);
  c = r.feed(0);
  EXPECT_DOUBLE_EQ(c.cpu_cores, 6);
  EXPECT_EQ(c.memory_bytes, 12 * GiB);
  EXPECT_NE(c.reason.find("grace: 50% of the way from 8.00 to 4.00 cores"), std::string::npos)
      << c.reason;
  r.clock.advance(5min);
  c = r.feed(0);
  EXPECT_EQ(c.phase, Phase::Normal);
  EXPECT_DOUBLE_EQ(c.cpu_cores, 4);
  r.clock.set_wall(at(0, 22, 59));
  r.clock.advance(1min);  // 23:00, level 0: ramp 4 -> 0
  EXPECT_DOUBLE_EQ(r.feed(0).cpu_cores, 4);
  r.clock.advance(2min + 30s);
  EXPECT_DOUBLE_EQ(r.feed(0).cpu_cores, 3);
  r.clock.advance(8min);
  c = r.feed(0);
  EXPECT_EQ(c.cpu_cores, 0);
  EXPECT_EQ(c.phase, Phase::Off);
}

TEST(PolicyColocatable, WallClockJumpsDoNotBreakMonotonicLogic) {
  PolicyConfig cfg = base_config();
  cfg.mode = Mode::Static;
  cfg.static_cpu_cores = 8;
  cfg.static_memory_bytes = 8 * GiB;
  cfg.windows = {window("night", kAll, "22:00", "06:00", Level::Off)};
  cfg.grace_period = 10min;
  cfg.stale_after = 5s;
  Rig r(cfg, at(0, 21, 59));
  r.feed(0);
  r.clock.advance(1min);
  r.feed(0);
  r.clock.advance(5min);
  EXPECT_DOUBLE_EQ(r.feed(0).cpu_cores, 4);
  // NTP steps the clock 3 hours forward, still inside the night window: the
  // ramp goes on by monotonic time, it does not jump to its end.
  r.clock.jump_wall(3h);
  Colocatable c = r.feed(0);
  EXPECT_EQ(c.phase, Phase::Grace);
  EXPECT_DOUBLE_EQ(c.cpu_cores, 4);
  // A step backwards neither makes the fresh sample stale nor restarts anything.
  r.clock.jump_wall(-2h);
  r.clock.advance(2min + 30s);
  c = r.feed(0);
  EXPECT_EQ(c.phase, Phase::Grace);
  EXPECT_DOUBLE_EQ(c.cpu_cores, 2);
  // And a jump of the wall clock cannot make an old sample look fresh.
  r.clock.advance(6s);
  r.clock.jump_wall(-1h);
  EXPECT_EQ(r.policy.update(r.clock).phase, Phase::Stale);
}

TEST(PolicyColocatable, LocalTimeWithExplicitOffset) {
  LocalTime lt = local_time(at(0, 0, 30, 15), 0);
  EXPECT_EQ(lt.weekday, 0);
  EXPECT_EQ(lt.minute_of_day, 30);
  EXPECT_EQ(lt.second, 15);
  lt = local_time(at(0, 0, 30), -60);
  EXPECT_EQ(lt.weekday, 6) << "one hour west of UTC it is still Sunday";
  EXPECT_EQ(lt.minute_of_day, 23 * 60 + 30);
  lt = local_time(at(6, 20, 0), 8 * 60);
  EXPECT_EQ(lt.weekday, 0) << "Sunday 20:00 UTC is Monday 04:00 in UTC+8";
  EXPECT_EQ(lt.minute_of_day, 4 * 60);
  lt = local_time(WallTime{} - 1s, 0);
  EXPECT_EQ(lt.weekday, 2) << "1969-12-31 was a Wednesday";
  EXPECT_EQ(lt.minute_of_day, 1439);
}

}  // namespace
}  // namespace colo::policy
