// The class a running task counts as (task_class in bpf/sched.bpf.c, run
// through the never-attached program colo_test_class): its cgroup's, except
// that kernel threads and the agent's own threads in an LS cgroup are system
// work. The integration test Signals.WaitsBehindLsAreNamedSo… checks the
// agent's case on real switches.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "colo_abi.h"
#include "sched_entry.h"

namespace colo::bpftest {
namespace {

constexpr uint32_t kPfKthread = 0x00200000;  // include/linux/sched.h

class SchedClassTest : public SchedEntryTest {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    ASSERT_NO_FATAL_FAILURE(load_entry("colo_test_class"));
  }

  uint32_t kernel_class(uint32_t cgroup_cls, uint32_t flags, uint32_t tgid) {
    skel_->bss->test_class_in[0] = cgroup_cls;
    skel_->bss->test_class_in[1] = flags;
    skel_->bss->test_class_in[2] = tgid;
    skel_->bss->test_class_out = 0xdeadbeef;
    run_entry("class " + std::to_string(cgroup_cls) + ", flags " + std::to_string(flags) +
              ", tgid " + std::to_string(tgid));
    return skel_->bss->test_class_out;
  }
};

TEST_F(SchedClassTest, KernelThreadsAndTheAgentAreSystemWork) {
  // No agent learnt (quiet_tgid 0): a task with tgid 0 is not "the agent".
  EXPECT_EQ(kernel_class(COLO_CLASS_LS, 0, 0), uint32_t{COLO_CLASS_LS});
  EXPECT_EQ(kernel_class(COLO_CLASS_LS, kPfKthread, 2), uint32_t{COLO_CLASS_SYSTEM});
  EXPECT_EQ(kernel_class(COLO_CLASS_LS, 0x40 | kPfKthread, 77), uint32_t{COLO_CLASS_SYSTEM})
      << "with other flags set";
  EXPECT_EQ(kernel_class(COLO_CLASS_LS, 0x40, 1234), uint32_t{COLO_CLASS_LS}) << "a user task";
  skel_->bss->quiet_tgid = 1234;
  EXPECT_EQ(kernel_class(COLO_CLASS_LS, 0x40, 1234), uint32_t{COLO_CLASS_SYSTEM}) << "the agent";
  EXPECT_EQ(kernel_class(COLO_CLASS_LS, 0x40, 1235), uint32_t{COLO_CLASS_LS});
  // Only LS is re-classed: BE stays BE (a kernel thread never runs in the
  // box, and the agent is never in it), system stays system.
  EXPECT_EQ(kernel_class(COLO_CLASS_BE, kPfKthread, 1234), uint32_t{COLO_CLASS_BE});
  EXPECT_EQ(kernel_class(COLO_CLASS_SYSTEM, 0, 1234), uint32_t{COLO_CLASS_SYSTEM});
}

}  // namespace
}  // namespace colo::bpftest
