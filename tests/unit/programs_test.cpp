// Pure helpers of userspace/bpf/programs (no BPF needed).
#include "userspace/bpf/programs.h"

#include <bpf/btf.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <unordered_map>

#include "support/temp_dir.h"

namespace colo::bpf {
namespace {

colo_rq_stage stage_of(uint64_t cgid, std::initializer_list<std::pair<uint8_t, uint16_t>> slots,
                       uint64_t sum_ns) {
  colo_rq_stage sg{};
  sg.cgid = cgid;
  sg.sum_ns = sum_ns;
  for (auto [slot, count] : slots) {
    sg.used[sg.n++] = slot;
    sg.count[slot] = count;
  }
  return sg;
}

TEST(AddStaged, AddsTheListedSlotsOfEachCpuToItsCgroup) {
  std::unordered_map<uint64_t, colo_cg_sched> out;
  add_staged(stage_of(7, {{40, 3}, {5, 1}}, 900), &out);  // CPU 0
  add_staged(stage_of(7, {{40, 2}}, 100), &out);          // CPU 1, same cgroup
  add_staged(stage_of(9, {{108, 1}}, 5), &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[7].rq_slots[40], 5u);
  EXPECT_EQ(out[7].rq_slots[5], 1u);
  EXPECT_EQ(out[7].rq_sum_ns, 1000u);
  EXPECT_EQ(out[9].rq_slots[108], 1u);
  uint64_t total = 0;
  for (uint64_t v : out[7].rq_slots) total += v;
  EXPECT_EQ(total, 6u) << "only listed slots count";
}

TEST(AddStaged, ThePendingSampleCountsToo) {
  std::unordered_map<uint64_t, colo_cg_sched> out;
  colo_rq_stage sg = stage_of(7, {{40, 3}}, 900);
  sg.pend_cgid = 8;  // another cgroup's sample, staged at the next switch
  sg.pend_slot = 12;
  sg.pend_ns = 77;
  add_staged(sg, &out);
  EXPECT_EQ(out[7].rq_slots[40], 3u);
  EXPECT_EQ(out[8].rq_slots[12], 1u);
  EXPECT_EQ(out[8].rq_sum_ns, 77u);
  sg.pend_slot = 500;  // torn: out of the histogram
  out.clear();
  add_staged(sg, &out);
  EXPECT_EQ(out.count(8), 0u);
}

TEST(AddStaged, AnEmptyStageAddsNothing) {
  std::unordered_map<uint64_t, colo_cg_sched> out;
  colo_rq_stage sg{};
  add_staged(sg, &out);
  sg.cgid = 3;  // a cgroup but no sample (n = 0)
  sg.count[10] = 4;
  add_staged(sg, &out);
  EXPECT_TRUE(out.empty());
}

TEST(AddStaged, ATornStageAddsOnlySlotsInRange) {
  std::unordered_map<uint64_t, colo_cg_sched> out;
  colo_rq_stage sg = stage_of(4, {{2, 1}}, 10);
  sg.used[1] = 200;  // out of the histogram
  sg.n = 1000;       // beyond the list
  add_staged(sg, &out);
  uint64_t total = 0;
  for (uint64_t v : out[4].rq_slots) total += v;
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(out[4].rq_slots[2], 1u);
}

TEST(AddPendingPreemptions, ABatchCountsForItsVictimAndItsPair) {
  PendingPreemptions out;
  colo_cpu_state a{}, b{};
  a.pre_victim = 10;
  a.pre_aggr = 20;
  a.pre_cls = COLO_CLASS_BE;
  a.pre_count = 3;
  b = a;  // another CPU, the same pair
  b.pre_count = 2;
  add_pending_preemptions(a, &out);
  add_pending_preemptions(b, &out);
  EXPECT_EQ(out.by_victim[10][COLO_CLASS_BE], 5u);
  EXPECT_EQ(out.by_victim[10][COLO_CLASS_LS], 0u);
  EXPECT_EQ(out.pairs[10][20], 5u);
}

TEST(AddPendingPreemptions, NoBatchOrATornOneAddsNothing) {
  PendingPreemptions out;
  colo_cpu_state cs{};
  cs.pre_victim = 10;  // a batch flushed: count 0
  add_pending_preemptions(cs, &out);
  cs.pre_count = 1;
  cs.pre_cls = 77;  // not a class
  add_pending_preemptions(cs, &out);
  EXPECT_TRUE(out.by_victim.empty());
  EXPECT_TRUE(out.pairs.empty());
}

// A BTF file describing a kernel's scheduler structs: `members` per struct
// (all u64), written raw as /sys/kernel/btf/vmlinux is.
std::string btf_file(const test::TempDir& dir,
                     const std::vector<std::pair<std::string, std::vector<std::string>>>& structs) {
  btf* b = btf__new_empty();
  int u64 = btf__add_int(b, "u64", 8, 0);
  for (auto& [name, members] : structs) {
    btf__add_struct(b, name.c_str(), 8 * members.size());
    for (size_t i = 0; i < members.size(); i++)
      btf__add_field(b, members[i].c_str(), u64, 64 * i, 0);
  }
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  std::string path = dir.put("vmlinux", std::string(static_cast<const char*>(raw), size));
  btf__free(b);
  return path;
}

const std::vector<std::pair<std::string, std::vector<std::string>>> kSchedInfoKernel = {
    {"sched_info", {"pcount", "run_delay", "last_arrival", "last_queued"}},
    {"sched_entity", {"load", "cfs_rq", "my_q"}},
    {"cfs_rq", {"load", "rq"}},
    {"rq", {"nr_running", "cpu", "clock"}}};

TEST(SchedInfoSupport, AKernelWithItsFieldsSinceFiveFourteen) {
  test::TempDir dir;
  const std::string btf = btf_file(dir, kSchedInfoKernel);
  EXPECT_EQ(schedinfo_unsupported(btf, "6.1.0-27-amd64"), "");
  EXPECT_EQ(schedinfo_unsupported(btf, "5.14.0-427.el9.x86_64"), "");
  EXPECT_NE(schedinfo_unsupported(btf, "5.10.0-33-amd64").find("before 5.14"), std::string::npos);
  EXPECT_NE(schedinfo_unsupported(btf, "4.19.0").find("before 5.14"), std::string::npos);
  EXPECT_NE(schedinfo_unsupported(btf, "linux").find("'linux' not understood"), std::string::npos);
}

TEST(SchedInfoSupport, NamesWhatTheKernelLacks) {
  test::TempDir dir;
  auto k = kSchedInfoKernel;
  k[0].second.clear();  // CONFIG_SCHED_INFO off: struct sched_info is empty
  EXPECT_EQ(schedinfo_unsupported(btf_file(dir, k), "6.1.0"),
            "the kernel has no sched_info::last_queued (CONFIG_SCHED_INFO off)");
  k = kSchedInfoKernel;
  k[1].second = {"load"};  // no group scheduling
  EXPECT_EQ(schedinfo_unsupported(btf_file(dir, k), "6.1.0"),
            "the kernel has no sched_entity::cfs_rq (CONFIG_FAIR_GROUP_SCHED off)");
  EXPECT_NE(schedinfo_unsupported(dir.path() + "/none", "6.1.0").find("cannot read BTF"),
            std::string::npos);
}

// A BTF file with the sched_switch tracepoint's BTF typedef taking `args`
// after its context, the last of them `last_type` ("int" or "ptr").
std::string switch_btf(const test::TempDir& dir, int args, const std::string& last_type) {
  btf* b = btf__new_empty();
  const int uint = btf__add_int(b, "unsigned int", 4, 0);
  const int task = btf__add_struct(b, "task_struct", 8);
  btf__add_field(b, "pid", uint, 0, 0);
  const int task_ptr = btf__add_ptr(b, task);
  const int void_ptr = btf__add_ptr(b, 0);
  // Parameters go to the prototype added last: no other type in between.
  const int proto = btf__add_func_proto(b, 0);
  btf__add_func_param(b, "__data", void_ptr);
  for (int i = 0; i < args; i++)
    btf__add_func_param(b, "", i + 1 == args && last_type == "int" ? uint : task_ptr);
  btf__add_typedef(b, "btf_trace_sched_switch", btf__add_ptr(b, proto));
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  std::string path = dir.put("vmlinux", std::string(static_cast<const char*>(raw), size));
  btf__free(b);
  return path;
}

TEST(SwitchPrevState, FromTheTracepointsFourthArgumentWhereItHasOne) {
  test::TempDir dir;
  // 5.18+: (ctx, preempt, prev, next, unsigned int prev_state).
  EXPECT_TRUE(switch_passes_prev_state(switch_btf(dir, 4, "int")));
  // Before: (ctx, preempt, prev, next).
  EXPECT_FALSE(switch_passes_prev_state(switch_btf(dir, 3, "ptr")));
  EXPECT_FALSE(switch_passes_prev_state(switch_btf(dir, 4, "ptr"))) << "not a state";
  EXPECT_FALSE(switch_passes_prev_state(btf_file(dir, kSchedInfoKernel))) << "no such typedef";
  EXPECT_FALSE(switch_passes_prev_state(dir.path() + "/none"));
}

TEST(SwitchPrevState, ThisKernelIfItHasBtf) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no kernel BTF";
  utsname u{};
  ASSERT_EQ(0, uname(&u));
  int major = 0, minor = 0;
  ASSERT_EQ(2, sscanf(u.release, "%d.%d", &major, &minor));
  EXPECT_EQ(switch_passes_prev_state("/sys/kernel/btf/vmlinux"),
            major > 5 || (major == 5 && minor >= 18))
      << u.release;
}

TEST(WaitSource, ParsesAndNames) {
  for (auto w : {WaitSource::Auto, WaitSource::SchedInfo, WaitSource::Wakeup})
    EXPECT_EQ(parse_wait_source(wait_source_name(w)), w);
  EXPECT_FALSE(parse_wait_source("schedstat"));
}

}  // namespace
}  // namespace colo::bpf
