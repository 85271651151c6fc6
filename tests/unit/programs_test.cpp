// Pure helpers of userspace/bpf/programs (no BPF needed).
#include "userspace/bpf/programs.h"

#include <gtest/gtest.h>

#include <unordered_map>

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

}  // namespace
}  // namespace colo::bpf
