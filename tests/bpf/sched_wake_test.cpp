// The per-thread wake-time table colo_wake_ts (bpf/sched.bpf.c), run through
// the never-attached program colo_test_wake on chosen thread ids: a direct-
// mapped table of COLO_WAKE_SLOTS slots tagged with the thread id. A wait is
// taken once; an exited thread frees its slot; two threads whose ids are
// equal modulo the size share a slot, and a wait the other thread's wakeup
// overwrote is lost and counted, never handed to the wrong thread. The
// privileged integration tests (Signals.*) check the table on real switches,
// against libbpf-tools runqlat.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "colo_abi.h"
#include "sched_entry.h"

namespace colo::bpftest {
namespace {

constexpr uint32_t kSlots = 65536;  // COLO_WAKE_SLOTS

class SchedWakeTest : public SchedEntryTest {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_wake"));
  }

  void op(uint32_t what, uint32_t pid, uint64_t now = 0) {
    skel_->bss->test_wake_op = what;
    skel_->bss->test_wake_pid = pid;
    skel_->bss->test_wake_now = now;
    run_entry("op " + std::to_string(what) + " on thread " + std::to_string(pid));
  }
  void wake(uint32_t pid, uint64_t now) { op(1, pid, now); }
  uint64_t take(uint32_t pid) {
    skel_->bss->test_wake_out = 0xdeadbeef;
    op(2, pid);
    return skel_->bss->test_wake_out;
  }
  void exit_thread(uint32_t pid) { op(3, pid); }

  // Waits lost to a thread sharing the slot (COLO_DROP_TASK_STORAGE), summed
  // over CPUs.
  uint64_t lost() {
    const int ncpus = libbpf_num_possible_cpus();
    std::vector<uint64_t> v(ncpus);
    uint32_t key = COLO_DROP_TASK_STORAGE;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_drops), &key, v.data()) != 0) return ~0ull;
    uint64_t sum = 0;
    for (uint64_t x : v) sum += x;
    return sum;
  }
};

TEST_F(SchedWakeTest, AWaitIsTakenOnce) {
  wake(100, 5000);
  EXPECT_EQ(take(100), 5000u);
  EXPECT_EQ(take(100), 0u) << "a second switch-in without a wakeup is no sample";
  wake(100, 9000);
  EXPECT_EQ(take(100), 9000u);
  EXPECT_EQ(take(101), 0u) << "a thread never woken has no wait";
  EXPECT_EQ(lost(), 0u);
}

TEST_F(SchedWakeTest, AnExitedThreadsIdStartsClean) {
  wake(200, 1000);
  exit_thread(200);
  EXPECT_EQ(take(200), 0u) << "the exited thread's wait is gone";
  wake(200 + kSlots, 2000);
  EXPECT_EQ(lost(), 0u) << "a freed slot holds no pending wait";
  EXPECT_EQ(take(200 + kSlots), 2000u);
}

TEST_F(SchedWakeTest, ThreadsSharingASlotNeverTakeEachOthersWait) {
  const uint32_t a = 300, b = 300 + kSlots, c = 300 + 2 * kSlots;
  // b woken while a's wait is pending: a's wait is lost and counted.
  wake(a, 1000);
  wake(b, 2000);
  EXPECT_EQ(lost(), 1u);
  EXPECT_EQ(take(a), 0u) << "a must not get b's wait";
  EXPECT_EQ(take(b), 2000u);
  // c woken after b ran: nothing pending, nothing lost.
  wake(c, 3000);
  EXPECT_EQ(lost(), 1u);
  EXPECT_EQ(take(b), 0u);
  EXPECT_EQ(take(c), 3000u);
  // Exits free the slot only for its holder.
  wake(a, 4000);
  exit_thread(c);
  EXPECT_EQ(take(a), 4000u) << "c's exit must not free a's slot";
}

}  // namespace
}  // namespace colo::bpftest
