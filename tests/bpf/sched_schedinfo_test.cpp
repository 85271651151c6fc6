// Run-queue waits read from the kernel's sched_info (bpf.wait_source:
// sched_info), through the never-attached program colo_test_schedinfo on CPU
// 0: the wait of a switch-in from last_queued and the run queue's clock, the
// part a migration of the queued task moved into run_delay, and the ring of
// classes that ran on the CPU, which names what an urgent wait queued behind.
// The privileged integration tests (Signals.*) check the same on real
// switches, against runqlat. Also how the switch program turns the run
// queue clock into CLOCK_MONOTONIC, its clock with waits from sched_info.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include "colo_abi.h"
#include "sched_entry.h"

namespace colo::bpftest {
namespace {

class SchedInfoTest : public SchedEntryTest {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_schedinfo"));
  }

  struct Wait {
    uint64_t ns;  // ~0: none known
    bool moved;
  };

  // Thread `pid` switches in with sched_info {last_queued, run_delay,
  // pcount} at rq clock `clock`.
  Wait switch_in(uint32_t pid, uint64_t queued, uint64_t run_delay, uint64_t pcount,
                 uint64_t clock) {
    auto* b = skel_->bss;
    b->test_si_op = 1;
    b->test_si_pid = pid;
    b->test_si_in[0] = queued;
    b->test_si_in[1] = run_delay;
    b->test_si_in[2] = pcount;
    b->test_si_in[3] = clock;
    b->test_si_out = 12345;
    run_entry("switch-in of " + std::to_string(pid), 0);
    return {b->test_si_out, b->test_si_moved != 0};
  }

  void starts(uint32_t cls, uint64_t clock) {
    skel_->bss->test_si_op = 2;
    skel_->bss->test_si_cls = cls;
    skel_->bss->test_si_in[3] = clock;
    run_entry("class " + std::to_string(cls) + " from " + std::to_string(clock), 0);
  }

  uint64_t class_at(uint64_t clock) {
    skel_->bss->test_si_op = 3;
    skel_->bss->test_si_in[3] = clock;
    run_entry("class at " + std::to_string(clock), 0);
    return skel_->bss->test_si_out;
  }

  // Rq clock `clock` in CLOCK_MONOTONIC, as the switch program turns it,
  // at a switch away from a task that blocked (`fresh`), never before `floor`.
  uint64_t mono(uint64_t clock, bool fresh, uint64_t floor = 0) {
    auto* b = skel_->bss;
    b->test_si_op = 4;
    b->test_si_in[0] = floor;
    b->test_si_in[1] = fresh;
    b->test_si_in[3] = clock;
    run_entry("clock " + std::to_string(clock), 0);
    return b->test_si_out;
  }

  static uint64_t monotonic_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
  }

  static constexpr uint64_t kNone = ~0ull;
  static constexpr uint64_t kSecond = 1'000'000'000ull;
};

TEST_F(SchedInfoTest, AWaitIsTheRunQueueClockLessWhenItWasQueued) {
  Wait w = switch_in(100, 1'000'000, 0, 0, 1'250'000);
  EXPECT_EQ(w.ns, 250'000u);
  EXPECT_FALSE(w.moved);
  // Its next wait, with run_delay and pcount as the kernel left them.
  w = switch_in(100, 3'000'000, 250'000, 1, 3'100'000);
  EXPECT_EQ(w.ns, 100'000u);
  EXPECT_FALSE(w.moved) << "run_delay grew by exactly the last wait: nothing was moved";
}

TEST_F(SchedInfoTest, WokenOntoAnIdleCpuTheWaitIsZeroNotLost) {
  // The scheduler skips the clock update between such a wakeup and its
  // switch: the kernel's run_delay counts 0, and so does colo, as a sample.
  Wait w = switch_in(101, 2'000'000, 0, 0, 2'000'000);
  EXPECT_EQ(w.ns, 0u);
}

TEST_F(SchedInfoTest, NoQueueTimeIsNoWait) {
  EXPECT_EQ(switch_in(102, 0, 0, 0, 5'000'000).ns, kNone) << "last_queued 0";
  EXPECT_EQ(switch_in(102, 5'000'000, 0, 0, 0).ns, kNone) << "no run queue clock";
  EXPECT_EQ(switch_in(102, 5'000'001, 0, 0, 5'000'000).ns, kNone) << "clock behind";
}

TEST_F(SchedInfoTest, AMigrationOfTheQueuedTaskAddsTheWaitBeforeIt) {
  ASSERT_EQ(switch_in(103, 1'000'000, 40'000, 7, 1'010'000).ns, 10'000u);
  // run_delay after that switch-in: 50 us, pcount 8. It waited 300 us on
  // the first CPU, was moved (run_delay += 300 us, last_queued restarted on
  // this CPU), and 200 us more here.
  Wait w = switch_in(103, 9'000'000, 350'000, 8, 9'200'000);
  EXPECT_EQ(w.ns, 500'000u);
  EXPECT_TRUE(w.moved);
  // The next, unmoved, wait is its own again.
  w = switch_in(103, 9'500'000, 550'000, 9, 9'520'000);
  EXPECT_EQ(w.ns, 20'000u);
  EXPECT_FALSE(w.moved);
}

TEST_F(SchedInfoTest, AMissedSwitchInAddsNothing) {
  ASSERT_EQ(switch_in(104, 1'000'000, 0, 0, 1'100'000).ns, 100'000u);
  // pcount 3, not 1: switch-ins that reached no tracer account for the
  // growth of run_delay, not a migration.
  Wait w = switch_in(104, 5'000'000, 900'000, 3, 5'010'000);
  EXPECT_EQ(w.ns, 10'000u);
  EXPECT_FALSE(w.moved);
}

TEST_F(SchedInfoTest, AWaitWithoutQueueTimeForgetsRunDelay) {
  ASSERT_EQ(switch_in(105, 1'000'000, 0, 0, 1'100'000).ns, 100'000u);
  ASSERT_EQ(switch_in(105, 0, 100'000, 1, 2'000'000).ns, kNone);
  // Whatever run_delay did meanwhile, it is not known to be a move.
  Wait w = switch_in(105, 3'000'000, 400'000, 1, 3'010'000);
  EXPECT_EQ(w.ns, 10'000u);
  EXPECT_FALSE(w.moved);
}

TEST_F(SchedInfoTest, AThreadSharingTheSlotTakesItOverWithoutItsRunDelay) {
  ASSERT_EQ(switch_in(106, 1'000'000, 0, 0, 1'100'000).ns, 100'000u);
  // Another thread whose id is equal modulo the table's size (65536).
  Wait w = switch_in(106 + 65536, 2'000'000, 150'000, 1, 2'010'000);
  EXPECT_EQ(w.ns, 10'000u);
  EXPECT_FALSE(w.moved) << "the other thread's run_delay is not this one's";
  w = switch_in(106, 3'000'000, 400'000, 1, 3'010'000);
  EXPECT_FALSE(w.moved) << "taken back: not known";
}

TEST_F(SchedInfoTest, TheRingNamesTheClassThatRanWhenATaskWasQueued) {
  EXPECT_EQ(class_at(1'000), COLO_CLASS_MAX) << "nothing seen yet";
  starts(COLO_CLASS_LS, 1'000);
  starts(COLO_CLASS_LS, 1'500);  // another LS task: no new entry
  starts(COLO_CLASS_BE, 2'000);
  starts(COLO_CLASS_IDLE, 3'000);
  EXPECT_EQ(class_at(999), COLO_CLASS_MAX) << "before the ring";
  EXPECT_EQ(class_at(1'000), COLO_CLASS_LS);
  EXPECT_EQ(class_at(1'999), COLO_CLASS_LS);
  EXPECT_EQ(class_at(2'000), COLO_CLASS_BE) << "preempted by BE: queued at its start";
  EXPECT_EQ(class_at(2'999), COLO_CLASS_BE);
  EXPECT_EQ(class_at(3'000), COLO_CLASS_IDLE);
  EXPECT_EQ(class_at(99'000), COLO_CLASS_IDLE);
}

TEST_F(SchedInfoTest, TheRingKeepsTheLastChangesOnly) {
  // COLO_CLS_RING + 2 changes: the first two fall out.
  for (uint64_t i = 0; i < COLO_CLS_RING + 2; i++)
    starts(i % 2 ? COLO_CLASS_BE : COLO_CLASS_LS, 1'000 * (i + 1));
  EXPECT_EQ(class_at(1'500), COLO_CLASS_MAX) << "older than the ring: not known";
  EXPECT_EQ(class_at(2'500), COLO_CLASS_MAX);
  EXPECT_EQ(class_at(3'500), COLO_CLASS_LS);
  EXPECT_EQ(class_at(4'500), COLO_CLASS_BE);
  EXPECT_EQ(class_at(1'000 * (COLO_CLS_RING + 2)), COLO_CLASS_BE);
}

TEST_F(SchedInfoTest, TheRunQueueClockIsTurnedIntoMonotonicTime) {
  // The first switch on a CPU takes the offset between the two clocks.
  uint64_t before = monotonic_now();
  const uint64_t t0 = mono(7 * kSecond, true);
  uint64_t after = monotonic_now();
  EXPECT_GE(t0, before);
  EXPECT_LE(t0, after);
  // Within COLO_CLOCK_SYNC_NS the same offset: differences of the run
  // queue's clock are kept exactly.
  EXPECT_EQ(mono(7 * kSecond + 1'000, true), t0 + 1'000);
  EXPECT_EQ(mono(7 * kSecond + COLO_CLOCK_SYNC_NS, true), t0 + COLO_CLOCK_SYNC_NS);
  // Later, a switch out of idle or after a preemption keeps it too (its
  // clock may be as old as the wakeup that ended the idle or preempted)...
  EXPECT_EQ(mono(7 * kSecond + 3 * COLO_CLOCK_SYNC_NS, false), t0 + 3 * COLO_CLOCK_SYNC_NS);
  // ... and a switch away from a task that blocked takes it afresh.
  before = monotonic_now();
  const uint64_t t1 = mono(7 * kSecond + 3 * COLO_CLOCK_SYNC_NS + 1, true);
  after = monotonic_now();
  EXPECT_GE(t1, before);
  EXPECT_LE(t1, after);
  EXPECT_EQ(mono(7 * kSecond + 3 * COLO_CLOCK_SYNC_NS + 501, true), t1 + 500);
}

TEST_F(SchedInfoTest, ACpuWhereNoTaskBlocksTakesANewOffsetAfterAHundredIntervals) {
  const uint64_t t0 = mono(3 * kSecond, true);
  // Only preemptions (CPU-bound tasks): the offset is kept for 100 intervals...
  EXPECT_EQ(mono(3 * kSecond + 100 * COLO_CLOCK_SYNC_NS, false), t0 + 100 * COLO_CLOCK_SYNC_NS);
  // ... then taken afresh, or the two clocks could drift apart for good.
  const uint64_t before = monotonic_now();
  const uint64_t t1 = mono(3 * kSecond + 100 * COLO_CLOCK_SYNC_NS + 1, false);
  const uint64_t after = monotonic_now();
  EXPECT_GE(t1, before);
  EXPECT_LE(t1, after);
}

TEST_F(SchedInfoTest, ARunQueueClockBehindTheLastOffsetTakesANewOne) {
  ASSERT_GT(mono(9 * kSecond, true), 0u);
  // Not a clock that runs on from the last offset (another clock, or a
  // wrapped one): no difference to keep, the offset is taken again.
  const uint64_t before = monotonic_now();
  const uint64_t t = mono(2 * kSecond, false);
  const uint64_t after = monotonic_now();
  EXPECT_GE(t, before);
  EXPECT_LE(t, after);
}

TEST_F(SchedInfoTest, TheClockNeverRunsBackOnACpu) {
  const uint64_t t0 = mono(5 * kSecond, true);
  // The CPU's last switch (or a running task's move to another cgroup,
  // timed by bpf_ktime_get_ns) was later than this clock with its offset.
  EXPECT_EQ(mono(5 * kSecond + 100, true, t0 + 1'000), t0 + 1'000);
  EXPECT_EQ(mono(5 * kSecond + 2'000, true, t0 + 1'000), t0 + 2'000);
}

}  // namespace
}  // namespace colo::bpftest
