// The egress controller's decision (EgressPolicy) with made-up times and LS
// byte counters, and the HTB layout colo asks the kernel for.
#include <gtest/gtest.h>

#include "agent/netcontrol.h"
#include "colo_abi.h"
#include "userspace/net/htb.h"

namespace colo {
namespace {

constexpr uint64_t kMs = 1'000'000;

EgressLimitConfig cfg() {
  EgressLimitConfig c;
  c.enabled = true;
  c.high = 20'000'000;
  c.low = 2'000'000;
  c.ls_watermark = 10'000'000;  // 10 MB/s = 100 kB per 10 ms
  c.window_ns = 30 * kMs;
  c.hold_ns = 200 * kMs;
  return c;
}

// Feeds samples every 10 ms with LS sending `rate` bytes/s from `t` for
// `ms`; returns the time of the first sample that changed the limit (0: none).
struct Feed {
  EgressPolicy p{cfg()};
  uint64_t t = 0, bytes = 0;
  uint64_t run(double rate, int ms) {
    uint64_t changed = 0;
    for (int i = 0; i < ms / 10; i++) {
      t += 10 * kMs;
      bytes += static_cast<uint64_t>(rate / 100);
      if (p.observe(t, bytes) && !changed) changed = t;
    }
    return changed;
  }
};

TEST(EgressPolicy, StaysHighWhileLsIsBelowTheWatermark) {
  Feed f;
  EXPECT_EQ(f.run(9'000'000, 2000), 0u);
  EXPECT_FALSE(f.p.low());
  EXPECT_EQ(f.p.limit(), 20'000'000u);
  EXPECT_NEAR(f.p.ls_rate(), 9'000'000, 1);
}

TEST(EgressPolicy, DropsToLowWithinTheWindowOfLsRising) {
  Feed f;
  f.run(1'000'000, 500);
  uint64_t rise = f.t;
  uint64_t changed = f.run(40'000'000, 100);
  ASSERT_NE(changed, 0u);
  EXPECT_TRUE(f.p.low());
  EXPECT_EQ(f.p.limit(), 2'000'000u);
  // 4x the watermark: the 30 ms average crosses it after ~10 ms of LS traffic.
  EXPECT_LE(changed - rise, 20 * kMs);
}

TEST(EgressPolicy, HighAgainOnlyAfterHoldBelowTheWatermark) {
  Feed f;
  f.run(40'000'000, 200);
  ASSERT_TRUE(f.p.low());
  uint64_t fall = f.t;
  // A short dip is not enough...
  f.run(1'000'000, 100);
  EXPECT_TRUE(f.p.low());
  f.run(40'000'000, 50);
  EXPECT_TRUE(f.p.low());
  fall = f.t;
  uint64_t back = f.run(1'000'000, 1000);
  ASSERT_NE(back, 0u);
  EXPECT_FALSE(f.p.low());
  // ... the window must first drain below the watermark, then hold elapses.
  EXPECT_GE(back - fall, 200 * kMs);
  EXPECT_LE(back - fall, 200 * kMs + 40 * kMs);
}

TEST(EgressPolicy, ResetGoesBackToHigh) {
  Feed f;
  f.run(40'000'000, 100);
  ASSERT_TRUE(f.p.low());
  f.p.reset();
  EXPECT_FALSE(f.p.low());
  EXPECT_EQ(f.p.ls_rate(), 0);
}

TEST(Htb, RootVerdicts) {
  using net::RootQdisc;
  using net::RootVerdict;
  EXPECT_EQ(net::judge_root(std::nullopt), RootVerdict::Install);
  EXPECT_EQ(net::judge_root(RootQdisc{"noqueue", 0}), RootVerdict::Install);
  EXPECT_EQ(net::judge_root(RootQdisc{"mq", 0}), RootVerdict::Install);
  EXPECT_EQ(net::judge_root(RootQdisc{"htb", COLO_HTB_MAJOR << 16}), RootVerdict::Ours);
  EXPECT_EQ(net::judge_root(RootQdisc{"htb", 0x10000}), RootVerdict::Foreign);
  EXPECT_EQ(net::judge_root(RootQdisc{"netem", COLO_HTB_MAJOR << 16}), RootVerdict::Foreign);
  EXPECT_EQ(net::judge_root(RootQdisc{"fq_codel", 0x80010000}), RootVerdict::Foreign);
  EXPECT_EQ(net::describe(RootQdisc{"netem", 0x80010000}), "netem 8001:");
}

TEST(Htb, ClassesKeepLeafGuaranteesWithinTheBox) {
  auto cs = net::htb_classes(10'000'000, {{COLO_HTB_CG_MINOR_BASE, 1'000'000},
                                          {COLO_HTB_CG_MINOR_BASE + 1, 50'000'000}});
  ASSERT_EQ(cs.size(), 4u);
  EXPECT_EQ(cs[0].minor, COLO_HTB_BOX_MINOR);
  EXPECT_EQ(cs[0].parent_minor, 0u);
  EXPECT_EQ(cs[0].rate, 10'000'000u);
  EXPECT_EQ(cs[0].ceil, 10'000'000u);
  uint64_t sum = 0;
  for (size_t i = 1; i < cs.size(); i++) {
    EXPECT_EQ(cs[i].parent_minor, COLO_HTB_BOX_MINOR);
    EXPECT_LE(cs[i].rate, cs[i].ceil);
    EXPECT_LE(cs[i].ceil, 10'000'000u) << "no leaf above the box";
    EXPECT_GE(cs[i].burst, 2u * 65536) << "a 64 KiB GSO packet must fit";
    sum += cs[i].rate;
  }
  EXPECT_LE(sum, 10'000'000u) << "leaves under their rate never exceed the box";
  EXPECT_EQ(cs[1].minor, COLO_HTB_BE_MINOR);
  EXPECT_EQ(cs[1].ceil, 10'000'000u);
  EXPECT_EQ(cs[2].ceil, 1'000'000u);
  EXPECT_EQ(cs[3].ceil, 10'000'000u) << "capped by the box";
}

TEST(Htb, OnlyTheBoxLeafWithoutCgroupLimits) {
  auto cs = net::htb_classes(5'000'000, {});
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[1].rate, 5'000'000u);
  EXPECT_EQ(cs[1].ceil, 5'000'000u);
}

}  // namespace
}  // namespace colo
