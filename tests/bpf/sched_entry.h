// The colo_sched object loaded with one of its never-attached
// BPF_PROG_TEST_RUN entries only (colo_test_slot, colo_test_class, …), in a
// private pin directory: tests set the entry's .bss inputs, run it, and read
// its outputs.
#pragma once
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_fixture.h"
#include "colo_sched.skel.h"

namespace colo::bpftest {
// Internal linkage, as the skeleton's functions have (static inline): each
// test file gets its own copy.
namespace {

using SchedSkel = SkelPtr<colo_sched, colo_sched__destroy>;

class SchedEntryTest : public ::testing::Test {
 protected:
  // Call from SetUp after COLO_REQUIRE_ROOT(), then ASSERT_NO_FATAL_FAILURE.
  void load_entry(const char* name) {
    ASSERT_TRUE(pins_.create()) << pins_.error();
    auto oo = pins_.open_opts();
    skel_.reset(colo_sched__open_opts(&oo));
    ASSERT_TRUE(skel_) << "open colo_sched: " << strerror(errno);
    ASSERT_EQ(0, bpf_map__set_max_entries(skel_->maps.colo_cpu, libbpf_num_possible_cpus()));
    ASSERT_EQ(0, bpf_map__set_max_entries(skel_->maps.colo_stage, libbpf_num_possible_cpus()));
    autoload_only(skel_->obj, {name});
    int err = colo_sched__load(skel_.get());
    ASSERT_EQ(0, err) << "load " << name << ": " << strerror(-err);
    prog_fd_ = bpf_program__fd(bpf_object__find_program_by_name(skel_->obj, name));
    ASSERT_GE(prog_fd_, 0);
  }

  // One run of the entry, on `cpu` if not -1 (entries that use per-CPU state).
  // raw_tp test runs take no data, no repeat, and a ctx of at most 12 u64
  // args; the entries read no argument, so no ctx.
  void run_entry(const std::string& what, int cpu = -1) {
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    if (cpu >= 0) {
      opts.flags = BPF_F_TEST_RUN_ON_CPU;
      opts.cpu = cpu;
    }
    int err = bpf_prog_test_run_opts(prog_fd_, &opts);
    EXPECT_EQ(0, err) << "test run for " << what << ": " << strerror(-err);
    EXPECT_EQ(0u, opts.retval);
  }

  // CPU `cpu`'s entry of colo_stage.
  colo_rq_stage stage(uint32_t cpu = 0) {
    colo_rq_stage sg{};
    EXPECT_EQ(0, bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_stage), &cpu, &sg));
    return sg;
  }

  // CPU `cpu`'s entry of colo_cpu.
  colo_cpu_state cpu_state(uint32_t cpu = 0) {
    colo_cpu_state cs{};
    EXPECT_EQ(0, bpf_map_lookup_elem(bpf_map__fd(skel_->maps.colo_cpu), &cpu, &cs));
    return cs;
  }

  PinDir pins_;  // declared first: outlives the skeleton
  SchedSkel skel_;
  int prog_fd_ = -1;
};

}  // namespace
}  // namespace colo::bpftest
