#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "support/privileged.h"
#include "userspace/util/hist.h"

namespace colo {
namespace {

using test::metric;
using test::parse_prometheus;

std::shared_ptr<Snapshot> sample_snapshot() {
  auto s = std::make_shared<Snapshot>();
  s->bpf_active = true;
  s->attach_mode = "tp_btf";
  CgroupSignals& ls = s->cgroups["/svc"];
  ls.cls = "ls";
  ls.has_sched = true;
  // 10 samples at 500ns, 5 at 3us, 1 at 40ms.
  ls.rq_slots[hist_slot(500)] += 10;
  ls.rq_slots[hist_slot(3000)] += 5;
  ls.rq_slots[hist_slot(40'000'000)] += 1;
  ls.rq_count = 16;
  ls.rq_sum_ns = 10 * 500 + 5 * 3000 + 40'000'000;
  ls.preempted_by[COLO_CLASS_BE] = 7;
  ls.smt_ns[COLO_CLASS_BE] = 2'500'000'000;
  ls.has_mem = true;
  ls.mem.memcg_reclaim_ns = 1'000'000'000;
  ls.mem.direct_reclaim_ns = 500'000'000;
  ls.tx["eth0"] = {4096, 3};
  Psi psi;
  psi.some = PsiLine{1, 2, 3, 1'500'000};
  ls.psi_cpu = psi;
  s->drops[COLO_DROP_RINGBUF_FULL] = 2;
  s->progs.push_back({"colo_switch_btf", 3'000'000'000, 1000});
  return s;
}

TEST(Metrics, BucketBoundsArePowersOfTwoMicroseconds) {
  const auto& b = runqueue_bucket_bounds();
  ASSERT_EQ(b.size(), static_cast<size_t>(COLO_HIST_OCTAVES + 1));
  EXPECT_DOUBLE_EQ(b[0], 1e-6);
  EXPECT_DOUBLE_EQ(b[10], 1024e-6);
  EXPECT_TRUE(std::isinf(b.back()));
}

TEST(Metrics, RendersContractNamesAndValues) {
  MetricsExporter m;
  m.update(sample_snapshot());
  auto s = parse_prometheus(m.render());
  EXPECT_EQ(metric(s, "colo_build_info"), 1.0);
  std::map<std::string, std::string> svc = {{"cgroup", "/svc"}, {"class", "ls"}};
  EXPECT_EQ(metric(s, "colo_cgroup_runqueue_latency_seconds_count", svc), 16.0);
  auto le = [&](const char* b) {
    auto l = svc;
    l["le"] = b;
    return metric(s, "colo_cgroup_runqueue_latency_seconds_bucket", l);
  };
  EXPECT_EQ(le("1e-06"), 10.0);       // 500ns
  EXPECT_EQ(le("2e-06"), 10.0);
  EXPECT_EQ(le("4e-06"), 15.0);       // 3us
  EXPECT_EQ(le("0.032768"), 15.0);
  EXPECT_EQ(le("0.065536"), 16.0);    // 40ms
  EXPECT_EQ(le("+Inf"), 16.0);
  EXPECT_NEAR(*metric(s, "colo_cgroup_runqueue_wait_seconds_total", svc), 0.04002, 1e-9);
  auto by = svc;
  by["by_class"] = "be";
  EXPECT_EQ(metric(s, "colo_cgroup_preemptions_total", by), 7.0);
  auto ag = svc;
  ag["aggressor_class"] = "be";
  EXPECT_DOUBLE_EQ(*metric(s, "colo_cgroup_smt_interference_seconds_total", ag), 2.5);
  EXPECT_DOUBLE_EQ(*metric(s, "colo_cgroup_memory_reclaim_stall_seconds_total", svc), 1.5);
  EXPECT_DOUBLE_EQ(*metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total", svc), 1.5);
  EXPECT_FALSE(metric(s, "colo_cgroup_pressure_cpu_stalled_seconds_total", svc));
  auto tx = svc;
  tx["interface"] = "eth0";
  EXPECT_EQ(metric(s, "colo_cgroup_network_transmit_bytes_total", tx), 4096.0);
  EXPECT_EQ(metric(s, "colo_cgroup_network_transmit_packets_total", tx), 3.0);
  EXPECT_EQ(metric(s, "colo_bpf_events_lost_total", {{"source", "ringbuf_full"}}), 2.0);
  EXPECT_EQ(metric(s, "colo_bpf_events_lost_total"), 2.0);
  EXPECT_EQ(metric(s, "colo_bpf_prog_runs_total", {{"prog", "colo_switch_btf"}}), 1000.0);
  EXPECT_EQ(metric(s, "colo_bpf_prog_run_seconds_total", {{"prog", "colo_switch_btf"}}), 3.0);
  EXPECT_EQ(metric(s, "colo_bpf_attached", {{"mode", "tp_btf"}}), 1.0);
}

TEST(Metrics, BucketsAreCumulative) {
  MetricsExporter m;
  m.update(sample_snapshot());
  double last = -1, last_le = -1;
  for (auto& x : parse_prometheus(m.render())) {
    if (x.name != "colo_cgroup_runqueue_latency_seconds_bucket") continue;
    double le = x.labels["le"] == "+Inf" ? INFINITY : std::stod(x.labels["le"]);
    EXPECT_GT(le, last_le);
    EXPECT_GE(x.value, last);
    last = x.value;
    last_le = le;
  }
  EXPECT_EQ(last, 16.0);
}

TEST(Metrics, OnlyBuildInfoBeforeFirstSnapshot) {
  MetricsExporter m;
  auto s = parse_prometheus(m.render());
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "colo_build_info");
}

}  // namespace
}  // namespace colo
