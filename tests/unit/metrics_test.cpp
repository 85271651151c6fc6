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
  MetricsConfig mc;
  mc.cgroup_histograms = {"/svc"};
  MetricsExporter m(mc);
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
  MetricsExporter m;  // per class: the one LS cgroup is the class
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

TEST(Metrics, OnlyBuildInfoAndProcessBeforeFirstSnapshot) {
  MetricsExporter m;
  auto s = parse_prometheus(m.render());
  for (auto& x : s)
    EXPECT_TRUE(x.name == "colo_build_info" || x.name.rfind("process_", 0) == 0) << x.name;
  EXPECT_EQ(metric(s, "colo_build_info"), 1.0);
}

TEST(Metrics, ProcessMetricsOfTheAgentItself) {
  MetricsExporter m;
  // Burn a little CPU so the counter is above zero even on a fast machine.
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; i++) x = x + i;
  auto s = parse_prometheus(m.render());
  EXPECT_GT(metric(s, "process_cpu_seconds_total").value_or(0), 0);
  EXPECT_GT(metric(s, "process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GE(metric(s, "process_open_fds").value_or(0), 3);
  EXPECT_GT(metric(s, "process_start_time_seconds").value_or(0), 1.5e9);
}

// One run-queue sample of `ns` in a cgroup of class `cls`.
void sample(Snapshot* s, const std::string& path, const std::string& cls, uint64_t n,
            uint64_t ns = 3000) {
  CgroupSignals& cs = s->cgroups[path];
  cs.cls = cls;
  cs.has_sched = true;
  cs.rq_slots[hist_slot(ns)] += n;
  cs.rq_count += n;
  cs.rq_sum_ns += n * ns;
}

// Series of the histogram family whose labels include `match`.
size_t hist_series(const std::vector<test::Sample>& s,
                   const std::map<std::string, std::string>& match) {
  size_t n = 0;
  for (auto& x : s) {
    if (x.name != "colo_cgroup_runqueue_latency_seconds_count") continue;
    bool ok = true;
    for (auto& [k, v] : match) ok = ok && x.labels.count(k) && x.labels.at(k) == v;
    n += ok;
  }
  return n;
}

// Count of the class-wide histogram (the series without a cgroup label).
double class_count(const std::vector<test::Sample>& s, const std::string& cls) {
  double n = 0;
  for (auto& x : s)
    if (x.name == "colo_cgroup_runqueue_latency_seconds_count" && !x.labels.count("cgroup") &&
        x.labels.at("class") == cls)
      n += x.value;
  return n;
}

TEST(Metrics, HistogramsArePerClassByDefault) {
  auto snap = std::make_shared<Snapshot>();
  sample(snap.get(), "/a", "ls", 5);
  sample(snap.get(), "/b", "ls", 7);
  sample(snap.get(), "/box", "be", 11);
  MetricsExporter m;
  m.update(snap);
  auto s = parse_prometheus(m.render());
  EXPECT_EQ(hist_series(s, {}), 2u) << "one histogram per class";
  for (auto& x : s) {
    if (x.name.rfind("colo_cgroup_runqueue_latency_seconds", 0) == 0) {
      EXPECT_EQ(x.labels.count("cgroup"), 0u) << x.name;
    }
  }
  EXPECT_EQ(class_count(s, "ls"), 12.0);
  EXPECT_EQ(class_count(s, "be"), 11.0);
  // Counters stay per cgroup.
  EXPECT_TRUE(metric(s, "colo_cgroup_runqueue_wait_seconds_total", {{"cgroup", "/a"}}));
}

TEST(Metrics, AllowlistGivesCgroupsAndTheirChildrenTheirOwnHistogram) {
  auto snap = std::make_shared<Snapshot>();
  sample(snap.get(), "/svc", "ls", 1);
  sample(snap.get(), "/svc/web", "ls", 2);
  sample(snap.get(), "/svcx", "ls", 4);
  sample(snap.get(), "/other", "ls", 8);
  MetricsConfig mc;
  mc.cgroup_histograms = {"/svc"};
  MetricsExporter m(mc);
  m.update(snap);
  auto s = parse_prometheus(m.render());
  EXPECT_EQ(metric(s, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", "/svc"}}), 1.0);
  EXPECT_EQ(metric(s, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", "/svc/web"}}),
            2.0);
  EXPECT_FALSE(metric(s, "colo_cgroup_runqueue_latency_seconds_count", {{"cgroup", "/svcx"}}));
  EXPECT_EQ(hist_series(s, {}), 3u);
  // The class histogram holds only the rest: no sample counted twice.
  double total = 0;
  for (auto& x : s)
    if (x.name == "colo_cgroup_runqueue_latency_seconds_count") total += x.value;
  EXPECT_EQ(total, 15.0);
}

TEST(Metrics, AtMostNCgroupsFirstSeenKeptUntilRemoved) {
  MetricsConfig mc;
  mc.max_cgroup_histograms = 1;
  MetricsExporter m(mc);
  auto s1 = std::make_shared<Snapshot>();
  sample(s1.get(), "/x", "ls", 3);
  sample(s1.get(), "/y", "ls", 5);
  m.update(s1);
  auto r1 = parse_prometheus(m.render());
  EXPECT_EQ(hist_series(r1, {{"cgroup", "/x"}}), 1u);
  EXPECT_EQ(hist_series(r1, {{"cgroup", "/y"}}), 0u);
  EXPECT_EQ(class_count(r1, "ls"), 5.0) << "/y";

  // A new cgroup finds no room while /x lives.
  auto s2 = std::make_shared<Snapshot>(*s1);
  sample(s2.get(), "/z", "ls", 1);
  m.update(s2);
  EXPECT_EQ(hist_series(parse_prometheus(m.render()), {{"cgroup", "/z"}}), 0u);

  // /x and /y removed: their series are gone, /y's samples stay in the class
  // (its counter does not go back), /z stays in the class too; a cgroup created
  // now takes the free place.
  auto s3 = std::make_shared<Snapshot>();
  sample(s3.get(), "/z", "ls", 1);
  sample(s3.get(), "/new", "ls", 2);
  m.update(s3);
  auto r3 = parse_prometheus(m.render());
  for (auto& x : r3)
    if (x.labels.count("cgroup")) {
      EXPECT_NE(x.labels["cgroup"], "/x") << x.name;
      EXPECT_NE(x.labels["cgroup"], "/y") << x.name;
    }
  EXPECT_EQ(hist_series(r3, {{"cgroup", "/new"}}), 1u);
  EXPECT_EQ(hist_series(r3, {{"cgroup", "/z"}}), 0u);
  EXPECT_EQ(class_count(r3, "ls"), 5.0 + 1.0)
      << "the removed /y's 5 samples plus /z's 1";
}

// Kubernetes mode: a resolver gives pods' cgroups their workload's names in
// place of the path (which holds the pod uid and container ids).
TEST(Metrics, ResolvedLabelsReplaceThePathAndCollidingSeriesAreSummed) {
  const std::string pod = "/kubepods/besteffort/pod1b4e28ba-2fa1-11d2-883f-0016d3cca427";
  const std::string c1 = pod + "/0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
  const std::string c2 = pod + "/a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
  const std::string unlisted = "/kubepods/besteffort/pod99999999-0000-4000-8000-000000000000";
  auto snap = std::make_shared<Snapshot>();
  sample(snap.get(), c1, "be", 3);
  sample(snap.get(), c2, "be", 4);  // the same container restarted, the old cgroup not yet gone
  sample(snap.get(), unlisted, "be", 5);
  sample(snap.get(), "/system.slice/kubelet.service", "system", 6);
  snap->cgroups[c1].run_ns = 1'000'000'000;
  snap->cgroups[c2].run_ns = 2'000'000'000;
  MetricsConfig mc;
  mc.cgroup_histograms = {"/kubepods"};
  MetricsExporter m(mc);
  m.set_label_resolver([&](const std::string& path) -> std::optional<MetricsExporter::Labels> {
    if (path == unlisted) return std::nullopt;
    if (path == c1 || path == c2)
      return MetricsExporter::Labels{{"cgroup", ""},
                                     {"namespace", "batch"},
                                     {"pod", "spark-exec-1"},
                                     {"container", "executor"},
                                     {"qos_class", "BestEffort"}};
    return MetricsExporter::Labels{
        {"cgroup", path}, {"namespace", ""}, {"pod", ""}, {"container", ""}, {"qos_class", ""}};
  });
  m.update(snap);
  const std::string text = m.render();
  EXPECT_EQ(text.find("pod1b4e28ba"), std::string::npos) << "no pod uid in any label";
  EXPECT_EQ(text.find("0f1e2d3c"), std::string::npos) << "no container id in any label";
  EXPECT_EQ(text.find("pod99999999"), std::string::npos) << "an unlisted pod has no series";
  auto s = parse_prometheus(text);
  const std::map<std::string, std::string> exec = {{"pod", "spark-exec-1"}, {"container", "executor"}};
  EXPECT_EQ(metric(s, "colo_cgroup_cpu_seconds_total", exec), 3.0) << "summed, one series";
  size_t n = 0;
  for (auto& x : s)
    if (x.name == "colo_cgroup_cpu_seconds_total" && x.labels["pod"] == "spark-exec-1") n++;
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(metric(s, "colo_cgroup_runqueue_latency_seconds_count", exec), 7.0);
  EXPECT_EQ(metric(s, "colo_cgroup_runqueue_latency_seconds_bucket",
                   {{"pod", "spark-exec-1"}, {"le", "+Inf"}}),
            7.0);
  // The unlisted pod's waits still count, in its class's histogram.
  EXPECT_EQ(class_count(s, "be"), 5.0);
  EXPECT_EQ(metric(s, "colo_cgroup_runqueue_wait_seconds_total",
                   {{"cgroup", "/system.slice/kubelet.service"}, {"class", "system"}}),
            6 * 3000e-9);
}

TEST(Metrics, MergeSumsOnlyIdenticalLabelSets) {
  prometheus::MetricFamily f;
  f.name = "x_total";
  f.type = prometheus::MetricType::Counter;
  auto add = [&](std::vector<prometheus::ClientMetric::Label> l, double v) {
    prometheus::ClientMetric m;
    m.label = std::move(l);
    m.counter.value = v;
    f.metric.push_back(m);
  };
  add({{"a", "1"}, {"b", "2"}}, 1);
  add({{"b", "2"}, {"a", "1"}}, 2);  // same set, other order
  add({{"a", "1"}, {"b", "3"}}, 4);
  merge_same_labels(&f);
  ASSERT_EQ(f.metric.size(), 2u);
  EXPECT_EQ(f.metric[0].counter.value, 3);
  EXPECT_EQ(f.metric[1].counter.value, 4);
}

TEST(Metrics, ConfigKeysAreValidated) {
  std::vector<ConfigError> errs;
  Config c = parse_config("metrics:\n  cgroup_histograms: [/svc, /db/]\n  max_cgroup_histograms: 50\n",
                          &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("c", errs);
  EXPECT_EQ(c.metrics.cgroup_histograms, (std::vector<std::string>{"/svc", "/db"}));
  EXPECT_EQ(c.metrics.max_cgroup_histograms, 50u);
  EXPECT_EQ(parse_config("", &errs).metrics.max_cgroup_histograms, 0u) << "per class by default";

  struct Bad {
    const char* yaml;
    const char* field;
    const char* reason;
  };
  for (auto b : {Bad{"metrics:\n  max_cgroup_histograms: -1\n", "metrics.max_cgroup_histograms",
                     "between 0 and 100000"},
                 Bad{"metrics:\n  max_cgroup_histograms: many\n", "metrics.max_cgroup_histograms",
                     "expected an integer"},
                 Bad{"metrics:\n  cgroup_histograms: [svc]\n", "metrics.cgroup_histograms[0]",
                     "starting with '/'"},
                 Bad{"metrics:\n  cgroup_histogram: []\n", "metrics.cgroup_histogram",
                     "unknown key"}}) {
    errs.clear();
    parse_config(b.yaml, &errs);
    ASSERT_EQ(errs.size(), 1u) << b.yaml;
    EXPECT_EQ(errs[0].line, 2) << b.yaml;
    EXPECT_EQ(errs[0].field, b.field);
    EXPECT_NE(errs[0].reason.find(b.reason), std::string::npos) << errs[0].reason;
  }
  // The commented defaults document the section and parse.
  errs.clear();
  parse_config(default_config_yaml(), &errs);
  EXPECT_TRUE(errs.empty());
  EXPECT_NE(default_config_yaml().find("max_cgroup_histograms: 0"), std::string::npos);
}

}  // namespace
}  // namespace colo
