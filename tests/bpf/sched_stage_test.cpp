// The per-CPU run-queue sample stage colo_stage (bpf/sched.bpf.c), run
// through the never-attached program colo_test_stage on CPU 0, which does a
// switch's work on it: settle, then stage a sample. A sample is one
// increment of its histogram slot; the stage is added to the cgroup's
// colo_cg_sched entry, and emptied, at the next switch after another
// cgroup's sample came (that sample waits as the pending one), after
// COLO_RUN_FLUSH_NS, or before a count would overflow; a cgroup removed
// meanwhile is not re-created by the flush. Readers add what is staged and
// pending (bpf::add_staged). The privileged integration tests (Signals.*) check the
// histograms on real switches, against libbpf-tools runqlat.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "colo_abi.h"
#include "sched_entry.h"

namespace colo::bpftest {
namespace {

class SchedStageTest : public SchedEntryTest {
 protected:
  void settle(uint64_t now) { sample(0, 0, now); }

  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_stage"));
  }

  // A switch at `now` (on CPU 0) with a sample of `cgid` that waited
  // `lat_ns`; cgid 0: a switch without a sample.
  void sample(uint64_t cgid, uint64_t lat_ns, uint64_t now) {
    skel_->bss->test_stage_cgid = cgid;
    skel_->bss->test_stage_lat = lat_ns;
    skel_->bss->test_stage_now = now;
    run_entry("a sample of cgroup " + std::to_string(cgid), 0);
  }

  // The cgroup's entry; false if it does not exist.
  bool entry(uint64_t cgid, colo_cg_sched* out) {
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_cg_sched), &cgid, out) == 0;
  }

  static uint64_t total(const colo_cg_sched& st) {
    uint64_t n = 0;
    for (uint64_t v : st.rq_slots) n += v;
    return n;
  }
};

// Histogram slots (COLO_HIST_*): [2^o (1 + s/4), ...) us -> 1 + 4o + s.
constexpr uint64_t kUs = 1000;

TEST_F(SchedStageTest, SamplesOfOneCgroupStayStagedAndAreCountedBySlot) {
  const uint64_t t = 1'000'000'000;
  sample(50, 3 * kUs, t);      // slot 1 + 4*1 + 2 = 7
  sample(50, 3 * kUs, t + 1);  // the same slot
  sample(50, 100 * kUs, t + 2);
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.cgid, 50u);
  ASSERT_EQ(sg.n, 2u) << "two distinct slots";
  EXPECT_EQ(sg.used[0], 7u) << "in first-use order";
  EXPECT_EQ(sg.count[7], 2u);
  EXPECT_EQ(sg.count[sg.used[1]], 1u);
  EXPECT_EQ(sg.sum_ns, 106 * kUs);
  colo_cg_sched st{};
  ASSERT_TRUE(entry(50, &st)) << "the entry exists before anything is staged for it";
  EXPECT_EQ(total(st), 0u) << "nothing flushed yet";
  EXPECT_EQ(cpu_state().stage_due, t + COLO_RUN_FLUSH_NS)
      << "the CPU's state says when the stage is due, so that other switches leave it alone";
}

TEST_F(SchedStageTest, ManyDistinctSlotsNeedNoFlush) {
  // The 4-entry stage before flushed at the fifth distinct slot.
  const uint64_t t = 1'000'000'000;
  for (int o = 0; o < 20; o++) sample(51, (1ull << o) * kUs + 1, t + o);
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.n, 20u);
  colo_cg_sched st{};
  ASSERT_TRUE(entry(51, &st));
  EXPECT_EQ(total(st), 0u);
}

TEST_F(SchedStageTest, AnotherCgroupsSampleFlushesTheStageIntoItsEntry) {
  const uint64_t t = 1'000'000'000;
  sample(60, 3 * kUs, t);
  sample(60, 3 * kUs, t + 1);
  sample(60, 40 * kUs, t + 2);
  sample(61, 5 * kUs, t + 3);
  colo_cg_sched a{};
  ASSERT_TRUE(entry(60, &a));
  EXPECT_EQ(total(a), 0u) << "flushed at the next switch, not in the middle of this one";
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.cgid, 60u);
  EXPECT_EQ(sg.pend_cgid, 61u);
  EXPECT_EQ(sg.pend_ns, 5 * kUs);
  EXPECT_EQ(cpu_state().stage_due, 1u) << "due at the next switch";
  settle(t + 4);
  EXPECT_EQ(cpu_state().stage_due, t + 4 + COLO_RUN_FLUSH_NS) << "the pending sample staged";
  ASSERT_TRUE(entry(60, &a));
  EXPECT_EQ(a.rq_slots[7], 2u);
  EXPECT_EQ(total(a), 3u);
  EXPECT_EQ(a.rq_sum_ns, 46 * kUs);
  sg = stage();
  EXPECT_EQ(sg.cgid, 61u);
  EXPECT_EQ(sg.n, 1u);
  EXPECT_EQ(sg.pend_cgid, 0u);
  EXPECT_EQ(sg.sum_ns, 5 * kUs);
  EXPECT_EQ(sg.count[7], 0u) << "flushed counts are zeroed";
  // Back to the first cgroup: the stage starts again from zero.
  sample(60, 3 * kUs, t + 5);
  settle(t + 6);
  sg = stage();
  EXPECT_EQ(sg.count[7], 1u);
  colo_cg_sched b{};
  ASSERT_TRUE(entry(61, &b));
  EXPECT_EQ(total(b), 1u);
}

TEST_F(SchedStageTest, AStageOlderThanTheFlushIntervalIsFlushed) {
  const uint64_t t = 1'000'000'000;
  sample(70, 3 * kUs, t);
  sample(70, 3 * kUs, t + COLO_RUN_FLUSH_NS);  // not older yet
  colo_cg_sched st{};
  ASSERT_TRUE(entry(70, &st));
  EXPECT_EQ(total(st), 0u);
  sample(70, 3 * kUs, t + COLO_RUN_FLUSH_NS + 1);
  ASSERT_TRUE(entry(70, &st));
  EXPECT_EQ(st.rq_slots[7], 2u);
  EXPECT_EQ(stage().count[7], 1u);
  settle(t + 3 * COLO_RUN_FLUSH_NS);
  ASSERT_TRUE(entry(70, &st));
  EXPECT_EQ(st.rq_slots[7], 3u);
  EXPECT_EQ(stage().n, 0u);
  EXPECT_EQ(cpu_state().stage_due, 0u) << "nothing staged";
}

TEST_F(SchedStageTest, ACountIsFlushedBeforeItOverflows) {
  const uint64_t t = 1'000'000'000;
  for (uint32_t i = 0; i < 0x10000 && !HasFailure(); i++) sample(80, 3 * kUs, t);
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.count[7], 0xffffu);
  EXPECT_EQ(sg.pend_cgid, 80u) << "the sample that would overflow waits";
  settle(t + 1);
  colo_cg_sched st{};
  ASSERT_TRUE(entry(80, &st));
  EXPECT_EQ(st.rq_slots[7], 0xffffu);
  sg = stage();
  EXPECT_EQ(sg.count[7], 1u);
  EXPECT_EQ(st.rq_slots[7] + sg.count[7], 0x10000u) << "no sample lost";
}

TEST_F(SchedStageTest, ACgroupRemovedMeanwhileIsNotRecreatedByTheFlush) {
  const uint64_t t = 1'000'000'000;
  sample(90, 3 * kUs, t);
  uint64_t gone = 90;
  ASSERT_EQ(0, bpf_map_delete_elem(bpf_map__fd(skel_->maps.colo_cg_sched), &gone));
  sample(91, 3 * kUs, t + 1);
  settle(t + 2);
  colo_cg_sched st{};
  EXPECT_FALSE(entry(90, &st));
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.cgid, 91u);
  EXPECT_EQ(sg.n, 1u);
  EXPECT_EQ(sg.count[7], 1u) << "the removed cgroup's count was cleared, not carried over";
}

}  // namespace
}  // namespace colo::bpftest
