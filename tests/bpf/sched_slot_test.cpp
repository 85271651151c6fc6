// The kernel's run-queue latency slot math (colo_hist_slot in
// bpf/include/colo_common.bpf.h, run through the never-attached program
// colo_test_slot) must agree with its userspace twin colo::hist_slot: the
// agent turns slot counts into seconds with the latter.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <limits>
#include <random>
#include <set>

#include "colo_abi.h"
#include "sched_entry.h"
#include "userspace/util/hist.h"

namespace colo::bpftest {
namespace {

class SchedSlotTest : public SchedEntryTest {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_slot"));
  }

  // The slot the kernel computes for `ns`.
  uint32_t kernel_slot(uint64_t ns) {
    skel_->bss->test_slot_in = ns;
    skel_->bss->test_slot_out = 0xdeadbeef;
    run_entry("ns=" + std::to_string(ns));
    return skel_->bss->test_slot_out;
  }
};

// Values where the slot changes: every sub-slot boundary of every octave,
// the microsecond rounding edges, powers of two of ns and their neighbours,
// and the extremes.
std::set<uint64_t> edge_values() {
  std::set<uint64_t> v = {0, 1, 999, 1000, 1001, 1999, 2000, 2999, 3000, 3999, 4000,
                          std::numeric_limits<uint64_t>::max(),
                          std::numeric_limits<uint64_t>::max() - 1,
                          uint64_t{1} << 63};
  for (int p = 10; p <= 40; p++) {
    uint64_t x = uint64_t{1} << p;
    v.insert({x - 1, x, x + 1});
  }
  for (uint32_t o = 0; o <= COLO_HIST_OCTAVES; o++) {
    for (uint32_t s = 0; s < COLO_HIST_SUBSLOTS; s++) {
      uint64_t us = (uint64_t{1} << o) + ((uint64_t{s} << o) >> COLO_HIST_SUBBITS);
      uint64_t ns = us * 1000;
      v.insert({ns - 1, ns, ns + 1, ns + 999});
    }
  }
  return v;
}

TEST_F(SchedSlotTest, KernelSlotMatchesUserspaceAtEdges) {
  std::set<uint32_t> seen;
  for (uint64_t ns : edge_values()) {
    uint32_t k = kernel_slot(ns);
    ASSERT_LT(k, static_cast<uint32_t>(COLO_HIST_SLOTS)) << "ns=" << ns;
    ASSERT_EQ(colo::hist_slot(ns), k) << "ns=" << ns;
    seen.insert(k);
  }
  // The edges reach every slot the layout can hold: 0, the three of octaves
  // 0 and 1 (1 us in slot 1, 2 us in 5, 3 us in 7), and all four of each
  // octave from 2 up.
  EXPECT_EQ(1u + 3u + (COLO_HIST_OCTAVES - 2) * COLO_HIST_SUBSLOTS, seen.size());
  EXPECT_EQ(1u, seen.count(COLO_HIST_SLOTS - 1));
}

TEST_F(SchedSlotTest, KernelSlotMatchesUserspaceOnRandomValues) {
  std::mt19937_64 rng(20240601);  // fixed seed: a failure reproduces
  // Log-uniform over 1 ns .. 2^44 ns, so that every octave gets samples.
  std::uniform_int_distribution<int> bits(0, 44);
  for (int i = 0; i < 4000; i++) {
    int b = bits(rng);
    uint64_t ns = b == 0 ? 0 : (rng() >> (64 - b));
    uint32_t k = kernel_slot(ns);
    ASSERT_EQ(colo::hist_slot(ns), k) << "ns=" << ns;
  }
}

TEST_F(SchedSlotTest, SlotsAreMonotonic) {
  // A longer wait never lands in a lower slot: quantiles depend on it.
  uint32_t prev = 0;
  for (uint64_t ns : edge_values()) {
    uint32_t k = kernel_slot(ns);
    ASSERT_GE(k, prev) << "ns=" << ns;
    prev = k;
  }
}

}  // namespace
}  // namespace colo::bpftest
