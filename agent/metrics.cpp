#include "agent/metrics.h"

#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "userspace/util/fs.h"
#include "userspace/util/hist.h"
#include "userspace/util/parse.h"

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

// The kernel's fine slots summed into the exported power-of-two buckets.
ClientMetric histogram_metric(std::vector<ClientMetric::Label> labels,
                              const std::array<uint64_t, COLO_HIST_SLOTS>& slots, uint64_t count,
                              uint64_t sum_ns) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = count;
  m.histogram.sample_sum = sum_ns * kNs;
  // Slot 0 is [0,1us); octave o's slots are [2^o, 2^(o+1)) us.
  uint64_t cum = slots[0];
  m.histogram.bucket.push_back({cum, kUs});
  for (int o = 0; o < COLO_HIST_OCTAVES - 1; o++) {
    for (int sub = 0; sub < COLO_HIST_SUBSLOTS; sub++)
      cum += slots[1 + o * COLO_HIST_SUBSLOTS + sub];
    m.histogram.bucket.push_back({cum, std::ldexp(1.0, o + 1) * kUs});
  }
  m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  return m;
}

// The agent's own CPU, memory and file descriptors (the usual process_* names).
void add_process_families(std::vector<MetricFamily>* out) {
  auto stat = read_file("/proc/self/stat");
  if (!stat) return;
  auto f = parse_proc_stat_fields(*stat);  // f[0] is field 3 (state)
  if (f.size() < 22) return;
  auto num = [&](size_t i) { return std::strtod(std::string(f[i]).c_str(), nullptr); };
  double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  double cpu = (num(11) + num(12)) / tck;  // utime + stime
  double rss = num(21) * static_cast<double>(sysconf(_SC_PAGESIZE));
  double vsize = num(20);
  double start = num(19) / tck;  // since boot
  if (auto pstat = read_file("/proc/stat")) {
    auto b = pstat->find("btime ");
    if (b != std::string::npos) start += std::strtod(pstat->c_str() + b + 6, nullptr);
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') fds++;
    closedir(d);
    fds--;  // the one opendir holds
  }
  auto one = [&](const char* name, const char* help, MetricType t, double v) {
    auto fam = family(name, help, t);
    if (t == MetricType::Counter) add_counter(fam, {}, v);
    else add_gauge(fam, {}, v);
    out->push_back(std::move(fam));
  };
  one("process_cpu_seconds_total", "User and system CPU time of the agent.", MetricType::Counter,
      cpu);
  one("process_resident_memory_bytes", "Resident memory of the agent.", MetricType::Gauge, rss);
  one("process_virtual_memory_bytes", "Virtual memory of the agent.", MetricType::Gauge, vsize);
  one("process_open_fds", "Open file descriptors of the agent.", MetricType::Gauge, fds);
  one("process_start_time_seconds", "Start time of the agent, seconds since the epoch.",
      MetricType::Gauge, start);
}

}  // namespace

void merge_same_labels(MetricFamily* f) {
  std::map<std::vector<std::pair<std::string, std::string>>, size_t> seen;
  std::vector<ClientMetric> kept;
  for (auto& m : f->metric) {
    std::vector<std::pair<std::string, std::string>> key;
    for (auto& l : m.label) key.emplace_back(l.name, l.value);
    std::sort(key.begin(), key.end());
    auto [it, fresh] = seen.emplace(std::move(key), kept.size());
    if (fresh) {
      kept.push_back(std::move(m));
      continue;
    }
    ClientMetric& into = kept[it->second];
    into.counter.value += m.counter.value;
    into.gauge.value += m.gauge.value;
    into.histogram.sample_count += m.histogram.sample_count;
    into.histogram.sample_sum += m.histogram.sample_sum;
    for (size_t i = 0; i < into.histogram.bucket.size() && i < m.histogram.bucket.size(); i++)
      into.histogram.bucket[i].cumulative_count += m.histogram.bucket[i].cumulative_count;
  }
  f->metric = std::move(kept);
}

std::vector<ClientMetric::Label> cgroup_labels(const std::string& path, const CgroupSignals& cs) {
  return {{"cgroup", path}, {"class", cs.cls}};
}

std::vector<ClientMetric::Label> class_labels(const std::string& cls) { return {{"class", cls}}; }

void MetricsExporter::Hist::add(const CgroupSignals& cs) {
  for (size_t i = 0; i < slots.size(); i++) slots[i] += cs.rq_slots[i];
  count += cs.rq_count;
  sum_ns += cs.rq_sum_ns;
}

void MetricsExporter::configure(const MetricsConfig& cfg) {
  std::lock_guard<std::mutex> l(mu_);
  cfg_ = cfg;
}

bool MetricsExporter::own_histogram(const std::string& path) const {
  if (chosen_.count(path)) return true;
  for (auto& prefix : cfg_.cgroup_histograms)
    if (path == prefix || prefix == "/" ||
        (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path[prefix.size()] == '/'))
      return true;
  return false;
}

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
  auto has_sched = [](const Snapshot& snap, const std::string& path) {
    auto it = snap.cgroups.find(path);
    return it != snap.cgroups.end() && it->second.has_sched;
  };
  if (snap_) {
    // Removed cgroups: their series go; what they counted stays in their class.
    for (auto& [path, cs] : snap_->cgroups) {
      if (!cs.has_sched || has_sched(*s, path)) continue;
      if (!own_histogram(path)) departed_[cs.cls].add(cs);
      chosen_.erase(path);
    }
  }
  // New cgroups get their own histogram while there is room; a cgroup already
  // counted in its class's histogram stays there (so that one never goes back).
  for (auto& [path, cs] : s->cgroups) {
    if (chosen_.size() >= cfg_.max_cgroup_histograms) break;
    if (!cs.has_sched || (snap_ && has_sched(*snap_, path)) || own_histogram(path)) continue;
    chosen_.insert(path);
  }
  snap_ = std::move(s);
}

std::vector<MetricFamily> MetricsExporter::Collect() const {
  std::lock_guard<std::mutex> l(mu_);
  const std::shared_ptr<const Snapshot>& s = snap_;
  const LabelResolver& resolver = resolver_;
  std::vector<MetricFamily> out;
  auto info = family("colo_build_info", "colo version; always 1.", MetricType::Gauge);
  add_gauge(info, {{"version", COLO_VERSION}, {"revision", COLO_REVISION}}, 1);
  out.push_back(std::move(info));
  add_process_families(&out);
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

  std::map<std::string, Hist> by_class = departed_;
  for (auto& [path, cs] : s->cgroups) {
    std::vector<ClientMetric::Label> labels;
    if (resolver) {
      auto r = resolver(path);
      if (!r) {
        if (cs.has_sched) by_class[cs.cls].add(cs);
        continue;
      }
      for (auto& [k, v] : *r) labels.push_back({k, v});
      labels.push_back({"class", cs.cls});
    } else {
      labels = cgroup_labels(path, cs);
    }
    if (cs.has_sched) {
      if (own_histogram(path))
        hist.metric.push_back(histogram_metric(labels, cs.rq_slots, cs.rq_count, cs.rq_sum_ns));
      else
        by_class[cs.cls].add(cs);
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

  for (auto& [c, h] : by_class)
    hist.metric.push_back(histogram_metric(class_labels(c), h.slots, h.count, h.sum_ns));

  auto cls = family("colo_class_cpu_seconds_total", "CPU time by class, all CPUs (BPF).",
                    MetricType::Counter);
  for (uint32_t c = 0; c < COLO_CLASS_MAX; c++)
    add_counter(cls, {{"class", class_name(c)}}, s->class_ns[c] * kNs);
  auto lost = family("colo_bpf_events_lost_total",
                     "Kernel-side drops and helper failures, by source.", MetricType::Counter);
  for (int i = 0; i < COLO_DROP_MAX; i++)
    add_counter(lost, {{"source", drop_source_name(i)}}, s->drops[i]);
  // Sampled (bpf.run_time_stats_window of every period): measured in the
  // windows, carried between them at the last window's rate.
  auto prun = family("colo_bpf_prog_run_seconds_total",
                     "Time spent in each BPF program (kernel BPF run-time stats, sampled).",
                     MetricType::Counter);
  auto pcnt = family("colo_bpf_prog_runs_total",
                     "Runs of each BPF program (kernel BPF run-time stats, sampled).",
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
  if (resolver)
    for (auto& f : out) merge_same_labels(&f);
  return out;
}

std::string MetricsExporter::render() const {
  std::ostringstream os;
  auto families = Collect();
  for (auto* x : extra_)
    for (auto& f : x->Collect()) families.push_back(std::move(f));
  prometheus::TextSerializer().Serialize(os, families);
  return os.str();
}

}  // namespace colo
