// The per-cgroup, per-CPU rate limit of urgent events (urgent_allowed in
// bpf/sched.bpf.c), run through the never-attached program colo_test_urgent
// on CPU 0: one event per cgroup per urgent_interval_ns on a CPU, whichever
// of the one-entry cache in colo_stage or the colo_urg_rl map answers.
// The privileged integration tests (Signals.*) check the events' rate on
// real switches.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "colo_abi.h"
#include "sched_entry.h"

namespace colo::bpftest {
namespace {

class SchedUrgentTest : public SchedEntryTest {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_urgent"));
    skel_->data->urgent_interval_ns = kInterval;
  }

  bool allowed(uint64_t cgid, uint64_t now) {
    skel_->bss->test_urg_cgid = cgid;
    skel_->bss->test_urg_now = now;
    skel_->bss->test_urg_out = 7;
    run_entry("cgroup " + std::to_string(cgid) + " at " + std::to_string(now), 0);
    EXPECT_LE(skel_->bss->test_urg_out, 1u);
    return skel_->bss->test_urg_out == 1;
  }

  static constexpr uint64_t kInterval = 10'000'000;
  static constexpr uint64_t kT = 5'000'000'000;
};

TEST_F(SchedUrgentTest, OneEventPerCgroupPerInterval) {
  EXPECT_TRUE(allowed(1, kT));
  EXPECT_FALSE(allowed(1, kT + 1));
  EXPECT_FALSE(allowed(1, kT + kInterval - 1));
  EXPECT_TRUE(allowed(1, kT + kInterval));
  EXPECT_FALSE(allowed(1, kT + kInterval + 5));
}

TEST_F(SchedUrgentTest, CgroupsAreLimitedEachOnItsOwn) {
  EXPECT_TRUE(allowed(1, kT));
  EXPECT_TRUE(allowed(2, kT + 1)) << "another cgroup has its own limit";
  // The cache now holds cgroup 2: cgroup 1 is held back by the map.
  EXPECT_FALSE(allowed(1, kT + 2));
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.urg_cgid, 1u) << "a wait the map held back fills the cache";
  EXPECT_EQ(sg.urg_last_ns, kT) << "with the time of the event that went out";
  EXPECT_FALSE(allowed(2, kT + 3));
  EXPECT_TRUE(allowed(1, kT + kInterval));
  EXPECT_FALSE(allowed(2, kT + kInterval)) << "2's went out at kT + 1";
  EXPECT_TRUE(allowed(2, kT + kInterval + 1));
}

TEST_F(SchedUrgentTest, TheCacheNeverOutlivesTheInterval) {
  EXPECT_TRUE(allowed(3, kT));
  colo_rq_stage sg = stage();
  EXPECT_EQ(sg.urg_cgid, 3u);
  EXPECT_EQ(sg.urg_last_ns, kT);
  skel_->data->urgent_interval_ns = kInterval / 10;  // a reload shortens it
  EXPECT_TRUE(allowed(3, kT + kInterval / 10));
}

}  // namespace
}  // namespace colo::bpftest
