#include "agent/cpuset_choice.h"

#include <gtest/gtest.h>

namespace colo {
namespace {

Topology smt4x2() {  // 4 cores, 2 threads: {0,4} {1,5} {2,6} {3,7}
  Topology t;
  t.online = t.possible = {0, 1, 2, 3, 4, 5, 6, 7};
  t.cores = {{0, 4}, {1, 5}, {2, 6}, {3, 7}};
  return t;
}

Topology nosmt(int n) {
  Topology t;
  for (int i = 0; i < n; i++) {
    t.online.push_back(i);
    t.cores.push_back({i});
  }
  t.possible = t.online;
  return t;
}

TEST(CpusetChoice, WholeCoresOnSmt) {
  // 3 cores worth of CPU rounds up to whole cores: 2 cores = 4 threads.
  auto cpus = choose_box_cpus(smt4x2(), 3.0, {});
  EXPECT_EQ(cpus, (std::vector<int>{2, 3, 6, 7}));
  EXPECT_EQ(choose_box_cpus(smt4x2(), 0.5, {}), (std::vector<int>{3, 7}));
}

TEST(CpusetChoice, BusiestLsCoresAreTakenBackFirst) {
  // LS is busy on core {3,7} and a little on {1,5}: BE gets {0,4} and {2,6}.
  std::map<int, double> busy = {{3, 0.9}, {7, 0.5}, {1, 0.2}};
  EXPECT_EQ(choose_box_cpus(smt4x2(), 4.0, busy), (std::vector<int>{0, 2, 4, 6}));
  // Shrinking keeps the least busy core.
  EXPECT_EQ(choose_box_cpus(smt4x2(), 1.0, busy), (std::vector<int>{2, 6}));
}

TEST(CpusetChoice, NeverEmptyNeverMoreThanOnline) {
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.0, {}), (std::vector<int>{1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), -3.0, {}), (std::vector<int>{1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 64.0, {}), (std::vector<int>{0, 1}));
  EXPECT_EQ(choose_box_cpus(nosmt(4), 1.0, {}, 2), (std::vector<int>{2, 3}));
  EXPECT_EQ(choose_box_cpus(Topology{}, 1.0, {}), (std::vector<int>{0}));
}

TEST(CpusetChoice, WithoutSmtPicksSingleCpus) {
  std::map<int, double> busy = {{3, 1.0}, {2, 0.1}};
  EXPECT_EQ(choose_box_cpus(nosmt(4), 2.2, busy), (std::vector<int>{0, 1, 2}));
}

TEST(CpusetChoice, WithoutSmtLsSpreadOverEveryCpuLeavesTheBoxEnoughCpus) {
  // LS at half of each CPU: one CPU would give BE 0.5 of its 0.9 cores.
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.9, {{0, 0.5}, {1, 0.5}}), (std::vector<int>{0, 1}));
  // LS on one CPU only: the other covers the allowance alone.
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.9, {{0, 1.0}, {1, 0.0}}), (std::vector<int>{1}));
  // On SMT the box stays at ceil(3.0) threads (2 whole cores) however LS is
  // spread: the other two cores' siblings stay free of BE.
  std::map<int, double> half;
  for (int c = 0; c < 8; c++) half[c] = 0.5;
  EXPECT_EQ(choose_box_cpus(smt4x2(), 3.0, half).size(), 4u);
  // More than everything LS leaves: all CPUs, no more.
  EXPECT_EQ(choose_box_cpus(nosmt(2), 1.9, {{0, 0.5}, {1, 0.5}}), (std::vector<int>{0, 1}));
}

// With cover < 1, CPUs beyond ceil(allowance) are added only while LS leaves
// less than that fraction of the allowance on the chosen ones: a 1-core box
// beside LS at 0.3 of each CPU stays on one CPU at cover 0.5 (0.7 >= 0.5),
// and spreads at cover 1 (0.7 < 1.0) or when LS takes more (0.4 < 0.5).
TEST(CpusetChoice, CoverBelowOneKeepsTheBoxOnFewerCpus) {
  const std::map<int, double> light = {{0, 0.3}, {1, 0.3}}, heavy = {{0, 0.6}, {1, 0.6}};
  EXPECT_EQ(choose_box_cpus(nosmt(2), 1.0, light, 1, {}, 0.5), (std::vector<int>{1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 1.0, light, 1, {}, 1.0), (std::vector<int>{0, 1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 1.0, heavy, 1, {}, 0.5), (std::vector<int>{0, 1}));
  // Shrinking still needs a quarter more: LS leaves 0.35 of CPU 1, enough
  // for 0.5 x 0.6 but not for 1.25 x 0.5 x 0.6.
  const std::map<int, double> most = {{0, 0.65}, {1, 0.65}};
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.6, most, 1, {1}, 0.5), (std::vector<int>{1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.6, most, 1, {0, 1}, 0.5), (std::vector<int>{0, 1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 1.0, light, 1, {0, 1}, 0.5), (std::vector<int>{1}));
  // Never fewer than ceil(allowance) CPUs, whatever the cover.
  EXPECT_EQ(choose_box_cpus(nosmt(4), 2.5, {}, 1, {}, 0.1).size(), 3u);
}

TEST(CpusetChoice, ShrinkingNeedsAQuarterMoreThanTheAllowance) {
  // CPU 1 is idle 0.7 of the time: enough for 0.6 cores, not for 1.25 x 0.6.
  std::map<int, double> busy = {{0, 0.6}, {1, 0.3}};
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.6, busy, 1, {0, 1}), (std::vector<int>{0, 1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.6, busy, 1, {1}), (std::vector<int>{1}));
  EXPECT_EQ(choose_box_cpus(nosmt(2), 0.5, busy, 1, {0, 1}), (std::vector<int>{1}));
}

}  // namespace
}  // namespace colo
