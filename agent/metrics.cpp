#include "agent/metrics.h"

#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "userspace/util/hist.h"

namespace colo {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr double kNs = 1e-9;
constexpr double kUs = 1e-6;

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

std::vector<ClientMetric::Label> cg_labels(const std::string& path, const CgroupSignals& cs) {
  return {{"cgroup", path}, {"class", cs.cls}};
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = v;
  f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

}  // namespace

const std::vector<double>& runqueue_bucket_bounds() {
  static const std::vector<double> bounds = [] {
    std::vector<double> b;
    for (int o = 0; o <= COLO_HIST_OCTAVES - 1; o++) b.push_back(std::ldexp(1.0, o) * kUs);
    b.push_back(std::numeric_limits<double>::infinity());
    return b;
  }();
  return bounds;
}

void MetricsExporter::set_label_resolver(LabelResolver r) {
  std::lock_guard<std::mutex> l(mu_);
  resolver_ = std::move(r);
}

void MetricsExporter::update(std::shared_ptr<const Snapshot> s) {
  std::lock_guard<std::mutex> l(mu_);
  snap_ = std::move(s);
}

std::vector<MetricFamily> MetricsExporter::Collect() const {
  std::shared_ptr<const Snapshot> s;
  LabelResolver resolver;
  {
    std::lock_guard<std::mutex> l(mu_);
    s = snap_;
    resolver = resolver_;
  }
  std::vector<MetricFamily> out;
  auto info = family("colo_build_info", "colo version; always 1.", MetricType::Gauge);
  add_gauge(info, {{"version", COLO_VERSION}, {"revision", COLO_REVISION}}, 1);
  out.push_back(std::move(info));
  if (!s) return out;

  auto hist = family("colo_cgroup_runqueue_latency_seconds",
                     "Time runnable tasks of the cgroup waited for a CPU.", MetricType::Histogram);
  auto wait = family("colo_cgroup_runqueue_wait_seconds_total",
                     "Total time runnable tasks of the cgroup waited for a CPU.",
                     MetricType::Counter);
  auto preempt = family("colo_cgroup_preemptions_total",
                        "Times a runnable task of the cgroup lost its CPU, by class of the task "
                        "that took it.",
                        MetricType::Counter);
  auto smt = family("colo_cgroup_smt_interference_seconds_total",
                    "Time an LS task of the cgroup ran while its SMT sibling ran another class.",
                    MetricType::Counter);
  auto cpu = family("colo_cgroup_cpu_seconds_total", "CPU time of the cgroup's tasks (BPF).",
                    MetricType::Counter);
  auto urgent = family("colo_cgroup_urgent_events_total",
                       "Urgent events: an LS task waited longer than bpf.urgent_latency.",
                       MetricType::Counter);
  auto reclaim = family("colo_cgroup_memory_reclaim_stall_seconds_total",
                        "Time the cgroup's tasks stalled in direct or memcg reclaim.",
                        MetricType::Counter);
  auto oom = family("colo_cgroup_oom_kills_total",
                    "Tasks of the cgroup killed by the OOM killer.", MetricType::Counter);
  auto reclaim_n = family("colo_cgroup_memory_reclaim_stalls_total",
                          "Reclaim episodes the cgroup's tasks stalled in.", MetricType::Counter);
  MetricFamily psi[3][2] = {
      {family("colo_cgroup_pressure_cpu_waiting_seconds_total", "PSI cpu some total.", MetricType::Counter),
       family("colo_cgroup_pressure_cpu_stalled_seconds_total", "PSI cpu full total.", MetricType::Counter)},
      {family("colo_cgroup_pressure_memory_waiting_seconds_total", "PSI memory some total.", MetricType::Counter),
       family("colo_cgroup_pressure_memory_stalled_seconds_total", "PSI memory full total.", MetricType::Counter)},
      {family("colo_cgroup_pressure_io_waiting_seconds_total", "PSI io some total.", MetricType::Counter),
       family("colo_cgroup_pressure_io_stalled_seconds_total", "PSI io full total.", MetricType::Counter)}};
  auto txb = family("colo_cgroup_network_transmit_bytes_total",
                    "Bytes sent by the cgroup's sockets, at TC egress.", MetricType::Counter);
  auto txp = family("colo_cgroup_network_transmit_packets_total",
                    "Packets sent by the cgroup's sockets, at TC egress.", MetricType::Counter);

  const auto& bounds = runqueue_bucket_bounds();
  for (auto& [path, cs] : s->cgroups) {
    auto labels = cg_labels(path, cs);
    if (resolver)
      for (auto& [k, v] : resolver(path)) labels.push_back({k, v});
    if (cs.has_sched) {
      ClientMetric m;
      m.label = labels;
      m.histogram.sample_count = cs.rq_count;
      m.histogram.sample_sum = cs.rq_sum_ns * kNs;
      // Slot 0 is [0,1us); octave o's slots are [2^o, 2^(o+1)) us.
      uint64_t cum = cs.rq_slots[0];
      m.histogram.bucket.push_back({cum, bounds[0]});
      for (int o = 0; o < COLO_HIST_OCTAVES - 1; o++) {
        for (int sub = 0; sub < COLO_HIST_SUBSLOTS; sub++)
          cum += cs.rq_slots[1 + o * COLO_HIST_SUBSLOTS + sub];
        m.histogram.bucket.push_back({cum, std::ldexp(1.0, o + 1) * kUs});
      }
      m.histogram.bucket.push_back({cs.rq_count, bounds.back()});
      hist.metric.push_back(std::move(m));
      add_counter(wait, labels, cs.rq_sum_ns * kNs);
      for (uint32_t c = 0; c < COLO_CLASS_MAX; c++) {
        if (c == COLO_CLASS_IDLE) continue;
        auto l = labels;
        l.push_back({"by_class", class_name(c)});
        add_counter(preempt, l, cs.preempted_by[c]);
      }
      for (uint32_t c : {COLO_CLASS_BE, COLO_CLASS_SYSTEM}) {
        auto l = labels;
        l.push_back({"aggressor_class", class_name(c)});
        add_counter(smt, l, cs.smt_ns[c] * kNs);
      }
      add_counter(cpu, labels, cs.run_ns * kNs);
      add_counter(urgent, labels, cs.urgent_events);
    }
    if (cs.has_mem) {
      add_counter(reclaim, labels, (cs.mem.direct_reclaim_ns + cs.mem.memcg_reclaim_ns) * kNs);
      add_counter(reclaim_n, labels, cs.mem.direct_reclaim_count + cs.mem.memcg_reclaim_count);
      add_counter(oom, labels, cs.mem.oom_kills);
    }
    const std::optional<Psi>* p[3] = {&cs.psi_cpu, &cs.psi_memory, &cs.psi_io};
    for (int r = 0; r < 3; r++) {
      if (!*p[r]) continue;
      if ((*p[r])->some) add_counter(psi[r][0], labels, (*p[r])->some->total_us * kUs);
      if ((*p[r])->full) add_counter(psi[r][1], labels, (*p[r])->full->total_us * kUs);
    }
    for (auto& [ifname, tx] : cs.tx) {
      auto l = labels;
      l.push_back({"interface", ifname});
      add_counter(txb, l, tx.bytes);
      add_counter(txp, l, tx.packets);
    }
  }

  auto cls = family("colo_class_cpu_seconds_total", "CPU time by class, all CPUs (BPF).",
                    MetricType::Counter);
  for (uint32_t c = 0; c < COLO_CLASS_MAX; c++)
    add_counter(cls, {{"class", class_name(c)}}, s->class_ns[c] * kNs);
  auto lost = family("colo_bpf_events_lost_total",
                     "Kernel-side drops and helper failures, by source.", MetricType::Counter);
  for (int i = 0; i < COLO_DROP_MAX; i++)
    add_counter(lost, {{"source", drop_source_name(i)}}, s->drops[i]);
  auto prun = family("colo_bpf_prog_run_seconds_total",
                     "Time spent in each BPF program (kernel BPF stats).", MetricType::Counter);
  auto pcnt = family("colo_bpf_prog_runs_total", "Runs of each BPF program (kernel BPF stats).",
                     MetricType::Counter);
  for (auto& p : s->progs) {
    add_counter(prun, {{"prog", p.name}}, p.run_time_ns * kNs);
    add_counter(pcnt, {{"prog", p.name}}, p.run_cnt);
  }
  auto attached = family("colo_bpf_attached",
                         "1 when colo's BPF programs are attached, by attach mode.",
                         MetricType::Gauge);
  add_gauge(attached, {{"mode", s->attach_mode}}, s->bpf_active ? 1 : 0);
  auto tracked = family("colo_tracked_cgroups", "Cgroups colo tracks on the cpu hierarchy.",
                        MetricType::Gauge);
  add_gauge(tracked, {}, s->tracked_cgroups);

  for (auto* f : {&hist, &wait, &preempt, &smt, &cpu, &urgent, &reclaim, &reclaim_n, &oom, &txb, &txp,
                  &cls, &lost, &prun, &pcnt, &attached, &tracked})
    out.push_back(std::move(*f));
  for (auto& r : psi)
    for (auto& f : r) out.push_back(std::move(f));
  return out;
}

std::string MetricsExporter::render() const {
  std::ostringstream os;
  auto families = Collect();
  if (extra_)
    for (auto& f : extra_->Collect()) families.push_back(std::move(f));
  prometheus::TextSerializer().Serialize(os, families);
  return os.str();
}

}  // namespace colo
