#include "userspace/util/hist.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace colo {
namespace {

constexpr uint32_t kLast = COLO_HIST_SLOTS - 1;

// colo_hist_slot() of bpf/include/colo_common.bpf.h, written out plainly.
uint32_t reference_slot(uint64_t ns) {
  uint64_t us = ns / 1000;
  if (us == 0) return 0;
  uint32_t o = 0;
  while (o < 63 && (us >> (o + 1)) != 0) o++;
  if (o >= COLO_HIST_OCTAVES) return kLast;
  uint32_t sub = o >= COLO_HIST_SUBBITS ? (us >> (o - COLO_HIST_SUBBITS)) % COLO_HIST_SUBSLOTS
                                        : (us << (COLO_HIST_SUBBITS - o)) % COLO_HIST_SUBSLOTS;
  return 1 + o * COLO_HIST_SUBSLOTS + sub;
}

// Latencies that probe every slot edge and the extremes.
std::vector<uint64_t> sample_ns() {
  std::vector<uint64_t> v;
  for (uint64_t us = 0; us <= 5000; us++)
    for (uint64_t off : {0, 1, 500, 999}) v.push_back(us * 1000 + off);
  for (int k = 0; k < 64; k++) {
    uint64_t p = uint64_t{1} << k;
    for (uint64_t x : {p - 1, p, p + 1, p * 1000 - 1, p * 1000, p * 1000 + 999}) v.push_back(x);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; i++) v.push_back(rng() >> (rng() % 64));
  v.push_back(std::numeric_limits<uint64_t>::max());
  return v;
}

TEST(HistSlot, MatchesKernelFormula) {
  for (uint64_t ns : sample_ns()) ASSERT_EQ(hist_slot(ns), reference_slot(ns)) << ns;
}

TEST(HistSlot, KnownValues) {
  EXPECT_EQ(hist_slot(0), 0u);
  EXPECT_EQ(hist_slot(999), 0u);
  EXPECT_EQ(hist_slot(1000), 1u);
  EXPECT_EQ(hist_slot(2000), 5u);
  EXPECT_EQ(hist_slot(3999), 7u);
  EXPECT_EQ(hist_slot(4000), 9u);
  EXPECT_EQ(hist_slot(5000), 10u);
  EXPECT_EQ(hist_slot((uint64_t{1} << 27) * 1000 - 1), kLast);
  EXPECT_EQ(hist_slot(std::numeric_limits<uint64_t>::max()), kLast);
}

TEST(HistBounds, EverySampleLiesInsideItsSlot) {
  for (uint64_t ns : sample_ns()) {
    uint32_t slot = hist_slot(ns);
    double s = static_cast<double>(ns) / 1e9;
    ASSERT_GE(s, hist_slot_lower_seconds(slot)) << ns;
    ASSERT_LT(s, hist_slot_upper_seconds(slot)) << ns;
  }
}

// Tight: the first and last ns of every non-empty slot map to it.
TEST(HistBounds, AreTight) {
  uint32_t non_empty = 0;
  for (uint32_t slot = 0; slot < kLast; slot++) {
    uint64_t lo = std::llround(hist_slot_lower_seconds(slot) * 1e9);
    uint64_t hi = std::llround(hist_slot_upper_seconds(slot) * 1e9);
    if (hist_slot(lo) != slot) continue;  // an empty sub-slot of octave 0 or 1
    EXPECT_EQ(hist_slot(hi - 1), slot) << slot;
    EXPECT_NE(hist_slot(hi), slot) << slot;
    if (lo > 0) {
      EXPECT_NE(hist_slot(lo - 1), slot) << slot;
    }
    non_empty++;
  }
  EXPECT_EQ(non_empty, kLast - 5);  // all but slots 2, 3, 4, 6 and 8
}

TEST(HistBounds, KnownValues) {
  const std::pair<uint32_t, double> upper[] = {
      {0, 1e-6}, {1, 2e-6}, {2, 2e-6}, {3, 2e-6}, {4, 2e-6}, {5, 3e-6},
      {6, 3e-6}, {7, 4e-6}, {8, 4e-6}, {9, 5e-6}, {12, 8e-6}, {13, 10e-6},
  };
  for (auto [slot, want] : upper) EXPECT_DOUBLE_EQ(hist_slot_upper_seconds(slot), want) << slot;
  EXPECT_DOUBLE_EQ(hist_slot_lower_seconds(0), 0);
  EXPECT_DOUBLE_EQ(hist_slot_lower_seconds(1), 1e-6);
  EXPECT_DOUBLE_EQ(hist_slot_lower_seconds(5), 2e-6);
  EXPECT_DOUBLE_EQ(hist_slot_lower_seconds(7), 3e-6);
  EXPECT_DOUBLE_EQ(hist_slot_lower_seconds(9), 4e-6);
  EXPECT_DOUBLE_EQ(hist_slot_lower_seconds(kLast), ((1 << 26) + 3 * (1 << 24)) / 1e6);
  EXPECT_TRUE(std::isinf(hist_slot_upper_seconds(kLast)));
  EXPECT_TRUE(std::isinf(hist_slot_upper_seconds(kLast + 5)));
}

TEST(HistBounds, AreMonotonic) {
  for (uint32_t slot = 1; slot < COLO_HIST_SLOTS; slot++) {
    EXPECT_GE(hist_slot_upper_seconds(slot), hist_slot_upper_seconds(slot - 1)) << slot;
    EXPECT_GE(hist_slot_lower_seconds(slot), hist_slot_lower_seconds(slot - 1)) << slot;
    EXPECT_LT(hist_slot_lower_seconds(slot), hist_slot_upper_seconds(slot)) << slot;
  }
  // From octave 2 on every slot is reachable, so "le" bounds strictly increase.
  for (uint32_t slot = 10; slot < COLO_HIST_SLOTS; slot++)
    EXPECT_GT(hist_slot_upper_seconds(slot), hist_slot_upper_seconds(slot - 1)) << slot;
}

TEST(HistQuantile, EmptyIsZero) {
  std::vector<uint64_t> h(COLO_HIST_SLOTS, 0);
  EXPECT_EQ(hist_quantile(h.data(), h.size(), 0.5), 0);
  EXPECT_EQ(hist_quantile(nullptr, 0, 0.5), 0);
}

TEST(HistQuantile, InterpolatesInsideTheSlot) {
  std::vector<uint64_t> h(COLO_HIST_SLOTS, 0);
  h[9] = 10;  // [4us, 5us)
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.0), 4e-6);
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.5), 4.5e-6);
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 1.0), 5e-6);
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 7.0), 5e-6);
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), -1.0), 4e-6);
}

TEST(HistQuantile, WalksTheCumulativeCounts) {
  std::vector<uint64_t> h(COLO_HIST_SLOTS, 0);
  h[0] = 50;  // [0, 1us)
  h[9] = 50;  // [4us, 5us)
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.25), 0.5e-6);
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.5), 1e-6);
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.75), 4.5e-6);
}

TEST(HistQuantile, LastSlotGivesItsLowerBound) {
  std::vector<uint64_t> h(COLO_HIST_SLOTS, 0);
  h[9] = 1;
  h[kLast] = 99;
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.99), hist_slot_lower_seconds(kLast));
  EXPECT_DOUBLE_EQ(hist_quantile(h.data(), h.size(), 0.005), 4.5e-6);
}

TEST(HistQuantile, EstimatesFallInTheTrueQuantilesSlot) {
  std::vector<uint64_t> h(COLO_HIST_SLOTS, 0);
  std::vector<uint64_t> samples;
  for (uint64_t ms = 1; ms <= 1000; ms++) samples.push_back(ms * 1000000);
  for (uint64_t ns : samples) h[hist_slot(ns)]++;
  for (double q : {0.5, 0.9, 0.99}) {
    uint64_t truth = samples[static_cast<size_t>(q * samples.size()) - 1];
    uint32_t slot = hist_slot(truth);
    double est = hist_quantile(h.data(), h.size(), q);
    EXPECT_GE(est, hist_slot_lower_seconds(slot)) << q;
    EXPECT_LE(est, hist_slot_upper_seconds(slot)) << q;
    EXPECT_NEAR(est, truth / 1e9, 0.25 * truth / 1e9) << q;
  }
}

}  // namespace
}  // namespace colo
