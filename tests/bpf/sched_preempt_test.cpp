// Preemptions batched per CPU (colo_cpu_state.pre_*, bpf/sched.bpf.c), run
// through the never-attached program colo_test_preempt on CPU 0, which does
// a switch's preemption accounting: the batch holds one victim and aggressor
// pair; it is added to the victim's colo_cg_sched.preempted_by and to the
// pair's colo_aggr entry when another pair comes or after COLO_RUN_FLUSH_NS,
// and a victim removed meanwhile is not re-created. Readers add the pending
// batch (bpf::add_pending_preemptions). The privileged integration tests
// (Signals.*) count preemptions on real switches.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "colo_abi.h"
#include "sched_entry.h"

namespace colo::bpftest {
namespace {

class SchedPreemptTest : public SchedEntryTest {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_preempt"));
  }

  // A switch at `now` on CPU 0 in which a task of `victim` (0: none) lost
  // the CPU while runnable to one of `aggr`, of class `cls`.
  void preempt(uint64_t victim, uint64_t aggr, uint32_t cls, uint64_t now) {
    auto* b = skel_->bss;
    b->test_pre_victim = victim;
    b->test_pre_aggr = aggr;
    b->test_pre_cls = cls;
    b->test_pre_now = now;
    run_entry("a preemption of " + std::to_string(victim), 0);
  }

  bool entry(uint64_t cgid, colo_cg_sched* out) {
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_cg_sched), &cgid, out) == 0;
  }

  // The pair's count in colo_aggr (0: no entry).
  uint64_t pair(uint64_t victim, uint64_t aggr) {
    colo_aggr_key k{victim, aggr};
    colo_aggr_val v{};
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_aggr), &k, &v) == 0 ? v.count : 0;
  }

  static constexpr uint64_t kMs = 1'000'000;
  static constexpr uint64_t kT = 1'000'000'000;
};

TEST_F(SchedPreemptTest, APairsPreemptionsAreBatchedUntilAnotherPairComes) {
  for (int i = 0; i < 3; i++) preempt(10, 20, COLO_CLASS_BE, kT + i * kMs);
  colo_cg_sched st{};
  ASSERT_TRUE(entry(10, &st)) << "the victim's entry is made when its batch starts";
  EXPECT_EQ(st.preempted_by[COLO_CLASS_BE], 0u) << "still batched";
  EXPECT_EQ(pair(10, 20), 0u);
  colo_cpu_state cs = cpu_state();
  EXPECT_EQ(cs.pre_count, 3u);
  EXPECT_EQ(cs.pre_victim, 10u);
  EXPECT_EQ(cs.pre_aggr, 20u);
  EXPECT_EQ(cs.pre_cls, uint32_t{COLO_CLASS_BE});

  // Another aggressor: the batch goes to the maps, the new one starts.
  preempt(10, 30, COLO_CLASS_SYSTEM, kT + 4 * kMs);
  ASSERT_TRUE(entry(10, &st));
  EXPECT_EQ(st.preempted_by[COLO_CLASS_BE], 3u);
  EXPECT_EQ(st.preempted_by[COLO_CLASS_SYSTEM], 0u);
  EXPECT_EQ(pair(10, 20), 3u);
  EXPECT_EQ(pair(10, 30), 0u);
  cs = cpu_state();
  EXPECT_EQ(cs.pre_count, 1u);
  EXPECT_EQ(cs.pre_aggr, 30u);

  // Another victim flushes too, and a later batch of a pair adds to its entry.
  preempt(11, 30, COLO_CLASS_SYSTEM, kT + 5 * kMs);
  preempt(10, 20, COLO_CLASS_BE, kT + 6 * kMs);
  ASSERT_TRUE(entry(10, &st));
  EXPECT_EQ(st.preempted_by[COLO_CLASS_SYSTEM], 1u);
  EXPECT_EQ(pair(10, 30), 1u);
  ASSERT_TRUE(entry(11, &st));
  EXPECT_EQ(st.preempted_by[COLO_CLASS_SYSTEM], 1u);
  preempt(12, 20, COLO_CLASS_BE, kT + 7 * kMs);
  EXPECT_EQ(pair(10, 20), 4u);
}

TEST_F(SchedPreemptTest, ABatchOlderThanTheFlushIntervalIsFlushedAtTheNextSwitch) {
  preempt(10, 20, COLO_CLASS_BE, kT);
  preempt(0, 0, 0, kT + COLO_RUN_FLUSH_NS);  // a switch without a preemption
  colo_cg_sched st{};
  ASSERT_TRUE(entry(10, &st));
  EXPECT_EQ(st.preempted_by[COLO_CLASS_BE], 0u) << "not older yet";
  preempt(0, 0, 0, kT + COLO_RUN_FLUSH_NS + 1);
  ASSERT_TRUE(entry(10, &st));
  EXPECT_EQ(st.preempted_by[COLO_CLASS_BE], 1u);
  EXPECT_EQ(pair(10, 20), 1u);
  EXPECT_EQ(cpu_state().pre_count, 0u);
}

TEST_F(SchedPreemptTest, AVictimRemovedMeanwhileIsNotRecreated) {
  preempt(10, 20, COLO_CLASS_BE, kT);
  preempt(10, 20, COLO_CLASS_BE, kT + 1);
  // cgroup_rmdir deletes the entry (colo_rmdir_*).
  const uint64_t id = 10;
  ASSERT_EQ(0, bpf_map_delete_elem(bpf_map__fd(skel_->maps.colo_cg_sched), &id));
  preempt(11, 20, COLO_CLASS_BE, kT + 2);
  colo_cg_sched st{};
  EXPECT_FALSE(entry(10, &st));
  EXPECT_EQ(pair(10, 20), 0u) << "no pair of a removed cgroup";
  EXPECT_EQ(cpu_state().pre_victim, 11u);
}

}  // namespace
}  // namespace colo::bpftest
