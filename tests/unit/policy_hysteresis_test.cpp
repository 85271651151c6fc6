#include "agent/policy/hysteresis.h"

#include <gtest/gtest.h>

namespace colo::policy {
namespace {

using namespace std::chrono_literals;

ControllerConfig config() {
  ControllerConfig c;
  c.tick = 100ms;
  c.hold = 500ms;
  c.step = 0.1;
  c.floor = 0.2;
  return c;
}

struct Rig {
  BoxController box{config()};
  FakeClock clock;
  // Ticks every 100 ms for `d`, LS healthy, and returns the last allowance.
  double run(std::chrono::milliseconds d, double target = 10) {
    Allowance a;
    for (auto t = 0ms; t < d; t += 100ms) {
      clock.advance(100ms);
      a = box.tick(target, true, clock.now_mono());
    }
    return a.amount;
  }
};

TEST(PolicyHysteresis, StartsAtTheFloorAndGrowsOnlyAfterTheHoldTime) {
  Rig r;
  Allowance a = r.box.tick(10, true, r.clock.now_mono());
  EXPECT_DOUBLE_EQ(a.amount, 2);
  EXPECT_TRUE(a.changed);
  EXPECT_DOUBLE_EQ(r.run(400ms), 2) << "LS healthy for 400 ms < hold 500 ms";
  r.clock.advance(100ms);
  a = r.box.tick(10, true, r.clock.now_mono());
  EXPECT_DOUBLE_EQ(a.amount, 3);
  EXPECT_NE(a.reason.find("grow: 2.00 -> 3.00 cores"), std::string::npos) << a.reason;
}

TEST(PolicyHysteresis, GrowsBySteps_OneStepPerTickInterval_NeverAboveTarget) {
  Rig r;
  r.box.tick(10, true, r.clock.now_mono());
  r.run(500ms);  // 3
  // Calls faster than the tick interval do not speed growth up.
  r.clock.advance(50ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono()).amount, 3);
  r.clock.advance(50ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono()).amount, 4);
  EXPECT_DOUBLE_EQ(r.run(300ms), 7);
  EXPECT_DOUBLE_EQ(r.run(300ms), 10);
  EXPECT_DOUBLE_EQ(r.run(1000ms), 10) << "never above the target";
  Allowance a = r.box.tick(10, true, r.clock.now_mono());
  EXPECT_FALSE(a.changed);

  BoxController big(ControllerConfig{100ms, 0ms, 0.3, 0.2});
  FakeClock c;
  big.adopt(8);
  EXPECT_DOUBLE_EQ(big.tick(10, true, c.now_mono()).amount, 10) << "a step is capped at the target";
}

TEST(PolicyHysteresis, ClampCutsAtOnceAndRestartsTheHold) {
  Rig r;
  r.box.adopt(10);
  r.box.tick(10, true, r.clock.now_mono());
  r.clock.advance(1ms);
  Allowance a = r.box.clamp_now("urgent: LS run-queue latency", r.clock.now_mono());
  EXPECT_DOUBLE_EQ(a.amount, 2);
  EXPECT_TRUE(a.changed);
  EXPECT_NE(a.reason.find("clamp (urgent: LS run-queue latency): 10.00 -> 2.00 cores"),
            std::string::npos)
      << a.reason;
  a = r.box.clamp_now("again", r.clock.now_mono());
  EXPECT_FALSE(a.changed) << "a clamp never raises the allowance";
  EXPECT_DOUBLE_EQ(r.run(400ms), 2);
  EXPECT_DOUBLE_EQ(r.run(100ms), 3);
}

TEST(PolicyHysteresis, UnhealthyTickRestartsTheHold) {
  Rig r;
  r.box.tick(10, true, r.clock.now_mono());
  r.run(400ms);
  r.clock.advance(100ms);
  Allowance a = r.box.tick(10, false, r.clock.now_mono());
  EXPECT_DOUBLE_EQ(a.amount, 2);
  EXPECT_NE(a.reason.find("LS unhealthy"), std::string::npos);
  EXPECT_DOUBLE_EQ(r.run(400ms), 2);
  EXPECT_DOUBLE_EQ(r.run(100ms), 3);
}

TEST(PolicyHysteresis, FollowsALowerTargetAtOnce) {
  Rig r;
  r.box.adopt(10);
  Allowance a = r.box.tick(4, false, r.clock.now_mono());
  EXPECT_DOUBLE_EQ(a.amount, 4);
  EXPECT_NE(a.reason.find("target fell: 10.00 -> 4.00"), std::string::npos);
  EXPECT_DOUBLE_EQ(r.box.tick(-1, true, r.clock.now_mono()).amount, 0) << "bad target = 0";
}

TEST(PolicyHysteresis, NoGrowthWhileBlockedByAnEvictionCooldown) {
  Rig r;
  r.box.tick(10, true, r.clock.now_mono());
  r.box.block_growth_until(r.clock.now_mono() + 2s);
  r.box.block_growth_until(r.clock.now_mono() + 1s);  // cannot shorten it
  EXPECT_DOUBLE_EQ(r.run(1900ms), 2);
  Allowance a = r.box.tick(10, true, r.clock.now_mono());
  EXPECT_NE(a.reason.find("eviction cooldown"), std::string::npos) << a.reason;
  EXPECT_DOUBLE_EQ(r.run(100ms), 3);
}

TEST(PolicyHysteresis, RecoversFromTheFloorWithinTheGoal) {
  // The defaults: back to >= 90% of the target within 2 s of the last clamp.
  BoxController box{ControllerConfig{}};
  FakeClock c;
  box.adopt(10);
  box.tick(10, true, c.now_mono());
  box.clamp_now("urgent", c.now_mono());
  auto start = c.now_mono();
  while (box.allowance() < 9 && c.now_mono() - start < 10s) {
    c.advance(100ms);
    box.tick(10, true, c.now_mono());
  }
  EXPECT_LE(c.now_mono() - start, 2s);
}

TEST(PolicyHysteresis, LowerNowFollowsTheTargetDownWithoutRestartingTheHold) {
  Rig r;
  r.box.tick(10, true, r.clock.now_mono());
  EXPECT_DOUBLE_EQ(r.run(1300ms), 10);
  Allowance a = r.box.lower_now(4, "LS busier", r.clock.now_mono());
  EXPECT_TRUE(a.changed);
  EXPECT_DOUBLE_EQ(a.amount, 4);
  EXPECT_NE(a.reason.find("target falls (LS busier): 10.00 -> 4.00 cores"), std::string::npos)
      << a.reason;
  EXPECT_FALSE(r.box.lower_now(6, "LS less busy", r.clock.now_mono()).changed) << "never raises";
  EXPECT_DOUBLE_EQ(r.box.lower_now(-1, "junk", r.clock.now_mono()).amount, 0) << "never negative";
  // A tick right after still has the old target 10: no step yet (its
  // target predates the rise of LS).
  r.clock.advance(15ms);
  Allowance soon = r.box.tick(10, true, r.clock.now_mono());
  EXPECT_DOUBLE_EQ(soon.amount, 0);
  EXPECT_NE(soon.reason.find("next step in"), std::string::npos) << soon.reason;
  // A tick interval later growth resumes, with no hold (a clamp_now would
  // have held it for 500 ms).
  r.clock.advance(85ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono()).amount, 1);
  EXPECT_DOUBLE_EQ(r.run(100ms), 2);
}


// A cut for LS demand alone (the CPUs saturated, nobody waited too long) is
// not harm: after demand_hold (100 ms) the box returns at once to what it had
// before, as far as LS leaves room; the rest comes step by step.
TEST(PolicyHysteresis, AfterCutsForDemandTheBoxReturnsAtOnceAsFarAsLsLeavesRoom) {
  Rig r;
  r.box.tick(10, true, r.clock.now_mono());
  r.run(1000ms);  // 2 -> 8 (hold 500 ms, then 1 per tick)
  ASSERT_DOUBLE_EQ(r.box.allowance(), 8);
  // LS demand rises in two 10 ms windows: two cuts, the second lower.
  Allowance a = r.box.clamp_demand("LS demand", r.clock.now_mono(), 5);
  EXPECT_TRUE(a.changed);
  EXPECT_DOUBLE_EQ(a.amount, 5);
  r.clock.advance(10ms);
  EXPECT_DOUBLE_EQ(r.box.clamp_demand("LS demand", r.clock.now_mono(), 4).amount, 4);
  // Within demand_hold: held.
  r.clock.advance(50ms);
  a = r.box.tick(10, true, r.clock.now_mono(), 9);
  EXPECT_DOUBLE_EQ(a.amount, 4);
  EXPECT_NE(a.reason.find("since a cut for LS demand"), std::string::npos) << a.reason;
  // After it: back to where the first cut found it (8), not further, though
  // LS leaves 9 and the target is 10.
  r.clock.advance(50ms);
  a = r.box.tick(10, true, r.clock.now_mono(), 9);
  EXPECT_DOUBLE_EQ(a.amount, 8);
  EXPECT_NE(a.reason.find("return: 4.00 -> 8.00 cores"), std::string::npos) << a.reason;
  // Then step by step.
  r.clock.advance(100ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono(), 9).amount, 9);

  // LS leaves less than before the cut: only that far (here 6), then steps.
  r.box.clamp_demand("LS demand", r.clock.now_mono(), 3);
  r.clock.advance(100ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono(), 6).amount, 6);
  r.clock.advance(100ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono(), 6).amount, 7)
      << "a step, from where the return stopped";
  // LS leaves less than one step: a step.
  r.box.clamp_demand("LS demand", r.clock.now_mono(), 3);
  r.clock.advance(100ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono(), 2).amount, 4);
}

// An urgent clamp (LS waited too long) or an unhealthy tick is harm: the
// full hold, and every bit earned back step by step, even after demand cuts.
TEST(PolicyHysteresis, HarmAfterDemandCutsMeansTheFullHoldAndSteps) {
  Rig r;
  r.box.tick(10, true, r.clock.now_mono());
  r.run(1000ms);  // 8
  r.box.clamp_demand("LS demand", r.clock.now_mono(), 5);
  r.box.clamp_now("urgent", r.clock.now_mono(), 4);
  EXPECT_DOUBLE_EQ(r.box.allowance(), 4);
  r.clock.advance(400ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono(), 9).amount, 4) << "hold 500 ms";
  r.clock.advance(100ms);
  EXPECT_DOUBLE_EQ(r.box.tick(10, true, r.clock.now_mono(), 9).amount, 5) << "one step";

  Rig u;
  u.box.tick(10, true, u.clock.now_mono());
  u.run(1000ms);  // 8
  u.box.clamp_demand("LS demand", u.clock.now_mono(), 4);
  u.clock.advance(100ms);
  EXPECT_DOUBLE_EQ(u.box.tick(10, false, u.clock.now_mono(), 9).amount, 4) << "unhealthy";
  u.clock.advance(500ms);
  EXPECT_DOUBLE_EQ(u.box.tick(10, true, u.clock.now_mono(), 9).amount, 5)
      << "after the hold, one step: the return was forgotten";
}

}  // namespace
}  // namespace colo::policy
