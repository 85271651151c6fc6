#include "agent/policy/eviction.h"

#include <gtest/gtest.h>

namespace colo::policy {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t GiB = 1ull << 30;

EvictionConfig config() {
  EvictionConfig c;
  c.cooldown = 30s;
  c.burst_limit = 10;
  c.burst_window = 5min;
  c.memory = {true, 0.90, 0.85, 0s};
  c.cpu_satisfaction = {true, 0.30, 0.50, 0s};
  c.ls_latency = {true, 0.050, 0.010, 0s};
  return c;
}

struct Rig {
  explicit Rig(EvictionConfig cfg = config()) : policy(cfg) {}
  Candidate cand(std::string id, int prio, double mem_gib, double cpu, int age_s) {
    Candidate c;
    c.id = std::move(id);
    c.priority = prio;
    c.memory_bytes = static_cast<uint64_t>(mem_gib * GiB);
    c.cpu_cores = cpu;
    c.started = clock.now_mono() - std::chrono::seconds(age_s);
    return c;
  }
  EvictionDecision memory(double used, std::vector<Candidate> cands, uint64_t total = 100 * GiB) {
    Pressures p;
    p.memory_used_fraction = used;
    p.memory_total_bytes = total;
    return policy.decide(p, cands, clock.now_mono());
  }
  EvictionPolicy policy;
  FakeClock clock;
};

std::vector<std::string> ids(const EvictionDecision& d) {
  std::vector<std::string> out;
  for (auto& v : d.victims) out.push_back(v.id);
  return out;
}

TEST(PolicyEviction, ReasonsAreAFixedSet) {
  std::vector<std::string> names;
  for (EvictReason r : all_reasons()) names.push_back(reason_name(r));
  EXPECT_EQ(names, (std::vector<std::string>{"memory", "cpu_satisfaction", "ls_latency", "disk"}));
}

TEST(PolicyEviction, OrderIsPriorityThenUsageThenYoungest) {
  EvictionConfig cfg = config();
  cfg.memory.release = 0.10;  // needs every candidate
  Rig r(cfg);
  EvictionDecision d = r.memory(0.95, {r.cand("a-prio1-big", 1, 8, 0, 10),
                                       r.cand("b-small", 0, 1, 0, 10),
                                       r.cand("c-4g-old", 0, 4, 0, 600),
                                       r.cand("d-4g-young", 0, 4, 0, 5)},
                                16 * GiB);
  EXPECT_EQ(ids(d), (std::vector<std::string>{"d-4g-young", "c-4g-old", "b-small", "a-prio1-big"}));
  EXPECT_EQ(d.victims[0].reason, EvictReason::Memory);
  EXPECT_NE(d.victims[0].explanation.find("memory 0.950 >= trigger 0.900 (release 0.100)"),
            std::string::npos)
      << d.victims[0].explanation;
}

TEST(PolicyEviction, CpuPressureOrdersByCpuUse) {
  Rig r;
  Pressures p;
  p.be_cpu_satisfaction = 0.25;
  p.be_cpu_cores = 8;
  // 0.25 -> x 8/4 = 0.5 (not above release 0.5) -> x 4/2 = 1.0: two victims.
  EvictionDecision d = r.policy.decide(
      p, {r.cand("mem-hog", 0, 30, 1, 1), r.cand("cpu-hog", 0, 1, 4, 1), r.cand("mid", 0, 1, 2, 1)},
      r.clock.now_mono());
  EXPECT_EQ(ids(d), (std::vector<std::string>{"cpu-hog", "mid"}));
  EXPECT_EQ(d.victims[0].reason, EvictReason::CpuSatisfaction);
  EXPECT_NE(d.victims[0].explanation.find("estimate 0.250 -> 0.500"), std::string::npos)
      << d.victims[0].explanation;
}

TEST(PolicyEviction, EvictsOnlyEnoughToGetUnderTheReleaseLevel) {
  Rig r;
  // 0.93 of 100 GiB; below 0.85 needs more than 8 GiB back: 5 + 4.
  EvictionDecision d =
      r.memory(0.93, {r.cand("m5", 0, 5, 0, 1), r.cand("m4", 0, 4, 0, 1), r.cand("m3", 0, 3, 0, 1)});
  EXPECT_EQ(ids(d), (std::vector<std::string>{"m5", "m4"}));
  Rig one;
  d = one.memory(0.93, {one.cand("big", 0, 20, 0, 1), one.cand("m4", 0, 4, 0, 1)});
  EXPECT_EQ(ids(d), (std::vector<std::string>{"big"}));
}

TEST(PolicyEviction, TriggerAndReleaseAreAHysteresis) {
  EvictionConfig cfg = config();
  cfg.cooldown = 0s;
  Rig r(cfg);
  auto cands = std::vector<Candidate>{r.cand("x", 0, 1, 0, 1)};
  EXPECT_TRUE(r.memory(0.88, cands).victims.empty()) << "between release and trigger: not yet";
  EXPECT_EQ(r.memory(0.90, cands).victims.size(), 1u) << "at the trigger";
  EXPECT_EQ(r.memory(0.88, cands).victims.size(), 1u) << "still above release: goes on";
  EXPECT_TRUE(r.memory(0.84, cands).victims.empty()) << "released";
  EXPECT_TRUE(r.memory(0.88, cands).victims.empty()) << "needs the trigger again";
}

TEST(PolicyEviction, CooldownBlocksFurtherEvictions) {
  Rig r;
  auto cands = std::vector<Candidate>{r.cand("x", 0, 1, 0, 1), r.cand("y", 0, 1, 0, 1)};
  EvictionDecision d = r.memory(0.95, {r.cand("x", 0, 20, 0, 1)});
  ASSERT_EQ(d.victims.size(), 1u);
  ASSERT_TRUE(d.cooldown_until);
  EXPECT_EQ(*d.cooldown_until, r.clock.now_mono() + 30s);
  r.clock.advance(29s);
  d = r.memory(0.95, cands);
  EXPECT_TRUE(d.victims.empty());
  EXPECT_NE(d.summary.find("in cooldown for 1.0s"), std::string::npos) << d.summary;
  EXPECT_TRUE(r.policy.cooldown_until(r.clock.now_mono()));
  r.clock.advance(1s);
  EXPECT_FALSE(r.policy.cooldown_until(r.clock.now_mono()));
  EXPECT_EQ(r.memory(0.95, cands).victims.size(), 2u);
}

TEST(PolicyEviction, BurstLimitCapsADecisionAndTheWindow) {
  EvictionConfig cfg = config();
  cfg.cooldown = 0s;
  cfg.burst_limit = 3;
  cfg.burst_window = 5min;
  Rig r(cfg);
  std::vector<Candidate> cands;
  for (int i = 0; i < 6; i++) cands.push_back(r.cand("t" + std::to_string(i), 0, 1, 0, i));
  EvictionDecision d = r.memory(0.99, cands);
  EXPECT_EQ(d.victims.size(), 3u) << "needs 15 GiB but the burst limit is 3";
  EXPECT_EQ(d.evictions_in_window, 3);
  r.clock.advance(1min);
  d = r.memory(0.99, cands);
  EXPECT_TRUE(d.victims.empty());
  EXPECT_NE(d.summary.find("burst limit of 3 per 5m0s reached"), std::string::npos) << d.summary;
  r.clock.advance(4min);
  EXPECT_EQ(r.memory(0.99, cands).victims.size(), 3u) << "the window has passed";
}

TEST(PolicyEviction, DryRunDecidesTheSameAndRecordsState) {
  EvictionConfig cfg = config();
  cfg.dry_run = true;
  Rig r(cfg);
  EvictionDecision d = r.memory(0.95, {r.cand("x", 0, 20, 0, 1)});
  EXPECT_TRUE(d.dry_run);
  EXPECT_EQ(ids(d), std::vector<std::string>{"x"});
  EXPECT_NE(d.summary.find("dry run: would evict 1"), std::string::npos) << d.summary;
  EXPECT_TRUE(d.cooldown_until) << "so the log shows what a real run would do next";
}

TEST(PolicyEviction, LatencyEvictsOneAtATimeAfterSustain) {
  EvictionConfig cfg = config();
  cfg.ls_latency.sustain = 5s;
  Rig r(cfg);
  Pressures p;
  p.ls_latency_p99_seconds = 0.080;
  std::vector<Candidate> cands = {r.cand("light", 0, 1, 0.5, 1), r.cand("heavy", 0, 1, 3, 1)};
  EXPECT_TRUE(r.policy.decide(p, cands, r.clock.now_mono()).victims.empty());
  r.clock.advance(4s);
  EXPECT_TRUE(r.policy.decide(p, cands, r.clock.now_mono()).victims.empty());
  p.ls_latency_p99_seconds.reset();  // a gap resets the sustain timer
  r.policy.decide(p, cands, r.clock.now_mono());
  p.ls_latency_p99_seconds = 0.080;
  r.clock.advance(1s);
  EXPECT_TRUE(r.policy.decide(p, cands, r.clock.now_mono()).victims.empty());
  r.clock.advance(5s);
  EvictionDecision d = r.policy.decide(p, cands, r.clock.now_mono());
  EXPECT_EQ(ids(d), std::vector<std::string>{"heavy"});
  EXPECT_EQ(d.victims[0].reason, EvictReason::LsLatency);
  EXPECT_NE(d.victims[0].explanation.find("LS latency p99 80.0ms >= trigger 50.0ms"),
            std::string::npos)
      << d.victims[0].explanation;
}

TEST(PolicyEviction, DiskOrdersByDiskUseAndEstimatesWithCapacity) {
  EvictionConfig cfg = config();
  cfg.disks = {{"/var/lib/colo", {true, 0.90, 0.85, 0s}}};
  Rig r(cfg);
  Pressures p;
  p.disks = {{"/var/lib/colo", 0.92, 100 * GiB}};
  std::vector<Candidate> cands = {r.cand("a", 0, 1, 1, 1), r.cand("b", 0, 1, 1, 1),
                                  r.cand("c", 0, 1, 1, 1)};
  cands[0].disk_bytes = 3 * GiB;
  cands[1].disk_bytes = 5 * GiB;
  cands[2].disk_bytes = 1 * GiB;
  EvictionDecision d = r.policy.decide(p, cands, r.clock.now_mono());
  EXPECT_EQ(ids(d), (std::vector<std::string>{"b", "a"}));  // 0.92 -> 0.87 -> 0.84
  EXPECT_EQ(d.victims[0].reason, EvictReason::Disk);
}

TEST(PolicyEviction, NothingWithoutSignalsCandidatesOrWhenDisabled) {
  Rig r;
  Pressures none;
  EvictionDecision d = r.policy.decide(none, {r.cand("x", 0, 1, 1, 1)}, r.clock.now_mono());
  EXPECT_TRUE(d.victims.empty());
  EXPECT_EQ(d.summary, "no pressure");
  d = r.memory(0.95, {});
  EXPECT_TRUE(d.victims.empty());
  EXPECT_FALSE(d.cooldown_until) << "no eviction, no cooldown";
  EvictionConfig cfg = config();
  cfg.enabled = false;
  Rig off(cfg);
  EXPECT_TRUE(off.memory(0.99, {off.cand("x", 0, 1, 1, 1)}).victims.empty());
}

// Listing candidates reads every BE cgroup and task: done only when a victim
// is to be chosen, not at every tick.
TEST(PolicyEviction, ListsCandidatesOnlyToChooseAVictim) {
  Rig r;
  int listed = 0;
  auto list = [&] {
    listed++;
    return std::vector<Candidate>{r.cand("x", 0, 20, 0, 1), r.cand("y", 0, 1, 0, 1)};
  };
  Pressures p;
  p.memory_total_bytes = 100 * GiB;
  p.memory_used_fraction = 0.50;
  EXPECT_TRUE(r.policy.decide(p, list, r.clock.now_mono()).victims.empty());
  EXPECT_EQ(listed, 0) << "no pressure";
  p.memory_used_fraction = 0.95;
  EvictionDecision d = r.policy.decide(p, list, r.clock.now_mono());
  EXPECT_EQ(listed, 1);
  ASSERT_EQ(d.victims.size(), 1u);
  EXPECT_EQ(d.victims[0].id, "x");
  r.clock.advance(std::chrono::seconds(1));
  d = r.policy.decide(p, list, r.clock.now_mono());
  EXPECT_TRUE(d.victims.empty());
  EXPECT_EQ(listed, 1) << "in cooldown: " << d.summary;
  r.clock.advance(std::chrono::seconds(30));
  EXPECT_EQ(r.policy.decide(p, list, r.clock.now_mono()).victims.size(), 1u);
  EXPECT_EQ(listed, 2) << "cooldown over";
}

TEST(PolicyEviction, SeveralSignalsShareTheVictims) {
  Rig r;
  Pressures p;
  p.memory_used_fraction = 0.95;
  p.memory_total_bytes = 100 * GiB;
  p.ls_latency_p99_seconds = 0.2;
  // The memory victim already answers the latency pressure this round.
  EvictionDecision d = r.policy.decide(
      p, {r.cand("mem", 0, 20, 0.1, 1), r.cand("cpu", 0, 1, 6, 1)}, r.clock.now_mono());
  EXPECT_EQ(ids(d), std::vector<std::string>{"mem"});
  EXPECT_NE(d.summary.find("memory 0.950 >= 0.900, LS latency p99 200.0ms >= 50.0ms"),
            std::string::npos)
      << d.summary;
}

}  // namespace
}  // namespace colo::policy
