// The ABI shared with the BPF programs: sizes and offsets are fixed. A change
// here means a change of map layout: rename the map (see colo_abi.h).
#include <gtest/gtest.h>

#include <cstddef>

#include "colo_abi.h"

static_assert(COLO_HIST_SLOTS == 109);
static_assert(sizeof(colo_class_key) == 16);
static_assert(offsetof(colo_class_key, hierarchy) == 8);
static_assert(sizeof(colo_cg_sched) == 8 * (COLO_HIST_SLOTS + 1 + 2 + 4 + 4 + 2));
static_assert(offsetof(colo_cg_sched, rq_slots) == 0);
static_assert(offsetof(colo_cg_sched, __reserved) == 8 * (COLO_HIST_SLOTS + 1));
static_assert(offsetof(colo_cg_sched, rq_sum_ns) == offsetof(colo_cg_sched, __reserved) + 8);
static_assert(offsetof(colo_cg_sched, preempted_by) == offsetof(colo_cg_sched, rq_sum_ns) + 8);
static_assert(offsetof(colo_cg_sched, smt_ns) == offsetof(colo_cg_sched, preempted_by) + 32);
static_assert(offsetof(colo_cg_sched, run_ns) == offsetof(colo_cg_sched, smt_ns) + 32);
static_assert(offsetof(colo_cg_sched, urgent_events) == offsetof(colo_cg_sched, run_ns) + 8);
static_assert(sizeof(colo_aggr_key) == 16 && sizeof(colo_aggr_val) == 16);
// colo_cpu: a common switch touches its first two cache lines only.
static_assert(sizeof(colo_cpu_state) == 320 && sizeof(colo_cpu_state) % 64 == 0);
static_assert(offsetof(colo_cpu_state, task) == 16 && offsetof(colo_cpu_state, pid) == 24);
static_assert(offsetof(colo_cpu_state, cls) == 28 && offsetof(colo_cpu_state, cls_cls) == 29 &&
              offsetof(colo_cpu_state, ring_cls) == 30);
static_assert(offsetof(colo_cpu_state, pending_run_ns) == 32 && offsetof(colo_cpu_state, run_cgid) == 40);
static_assert(offsetof(colo_cpu_state, clk_off) == 48 && offsetof(colo_cpu_state, clk_at) == 56);
static_assert(offsetof(colo_cpu_state, class_ns) == 64 && offsetof(colo_cpu_state, cls_cgid) == 96);
static_assert(offsetof(colo_cpu_state, rq) == 104 && offsetof(colo_cpu_state, stage_due) == 112);
static_assert(offsetof(colo_cpu_state, cls_gen) == 120 && offsetof(colo_cpu_state, pre_count) == 124);
static_assert(offsetof(colo_cpu_state, cls_head) == 128 && offsetof(colo_cpu_state, cls_ring) == 129);
static_assert(offsetof(colo_cpu_state, cls_since) == 136 && COLO_CLS_RING == 6);
static_assert(offsetof(colo_cpu_state, acct_ns) == 192 && offsetof(colo_cpu_state, sibling) == 200);
static_assert(offsetof(colo_cpu_state, pre_cls) == 204 && offsetof(colo_cpu_state, pre_since_ns) == 208);
static_assert(offsetof(colo_cpu_state, pre_victim) == 216 && offsetof(colo_cpu_state, pre_aggr) == 224);
static_assert(offsetof(colo_cpu_state, pub_cls) == 256);
// colo_stage: a sample of slot 0-19 touches the first cache line only.
static_assert(sizeof(colo_rq_stage) == 448 && sizeof(colo_rq_stage) % 64 == 0);
static_assert(offsetof(colo_rq_stage, sum_ns) == 8 && offsetof(colo_rq_stage, n) == 16);
static_assert(offsetof(colo_rq_stage, pend_slot) == 20 && offsetof(colo_rq_stage, count) == 24);
static_assert(offsetof(colo_rq_stage, count) + 20 * sizeof(__u16) == 64);
static_assert(offsetof(colo_rq_stage, pend_cgid) == 248 && offsetof(colo_rq_stage, pend_ns) == 256);
static_assert(offsetof(colo_rq_stage, urg_cgid) == 264 && offsetof(colo_rq_stage, urg_last_ns) == 272);
static_assert(offsetof(colo_rq_stage, used) == 280);
static_assert(COLO_HIST_SLOTS <= COLO_STAGE_LEN && COLO_STAGE_LEN % 8 == 0);
static_assert(COLO_HIST_SLOTS <= 256, "a staged slot is a __u8");
static_assert(sizeof(colo_cg_mem) == 40 && offsetof(colo_cg_mem, oom_kills) == 32);
static_assert(sizeof(colo_net_key) == 16 && offsetof(colo_net_key, ifindex) == 8);
static_assert(sizeof(colo_net_val) == 16);
static_assert(sizeof(colo_net_class_key) == 8 && offsetof(colo_net_class_key, cls) == 4);
static_assert(COLO_HTB_CLASSID(COLO_HTB_BE_MINOR) == 0x0c010002u, "c01:2");
static_assert(sizeof(colo_urgent_event) == 40);
static_assert(sizeof(colo_be_wake_event) == 16);
static_assert(offsetof(colo_be_wake_event, pid) == 8 && offsetof(colo_be_wake_event, cpu) == 12);
static_assert(offsetof(colo_urgent_event, prev_cls) == 32);
static_assert(offsetof(colo_urgent_event, pid) == 24 && offsetof(colo_urgent_event, cpu) == 28);
static_assert(COLO_CLASS_LS == 0 && COLO_CLASS_BE == 1 && COLO_CLASS_SYSTEM == 2 &&
              COLO_CLASS_IDLE == 3 && COLO_CLASS_MAX == 4);

TEST(Abi, ClassMaxIsPowerOfTwoForMasking) {
  // The kernel masks class indexes with (COLO_CLASS_MAX - 1) for the verifier.
  EXPECT_EQ(COLO_CLASS_MAX & (COLO_CLASS_MAX - 1), 0);
}
