#include "agent/agent.h"

#include <httplib.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "agent/control.h"
#include "userspace/util/fs.h"
#include "userspace/util/hist.h"
#include "userspace/util/log.h"
#include "userspace/util/mono.h"

namespace colo {
namespace {

constexpr double kNs = 1e-9;

std::pair<std::string, int> split_host_port(const std::string& s) {
  auto c = s.rfind(':');
  std::string host = s.substr(0, c);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, std::atoi(s.c_str() + c + 1)};
}

nlohmann::json class_map(const std::array<uint64_t, COLO_CLASS_MAX>& a, double scale,
                         bool with_idle) {
  nlohmann::json j = nlohmann::json::object();
  for (uint32_t c = 0; c < COLO_CLASS_MAX; c++)
    if (with_idle || c != COLO_CLASS_IDLE) j[class_name(c)] = a[c] * scale;
  return j;
}

// The reading of `path` in `prev`, if both exist.
const CgroupSignals* earlier(const Snapshot* prev, const std::string& path) {
  if (!prev) return nullptr;
  auto it = prev->cgroups.find(path);
  return it != prev->cgroups.end() ? &it->second : nullptr;
}

// What a counter grew by (0 if it went back, e.g. a recreated cgroup).
uint64_t grown(uint64_t now, uint64_t before) { return now - std::min(now, before); }

// A cgroup's run-queue histogram, wait and CPU time over a window: what grew
// since its reading `p` (null: since the agent started). colo top and the
// control loop take the same numbers from here.
struct SchedWindow {
  std::array<uint64_t, COLO_HIST_SLOTS> slots;
  uint64_t count, sum_ns, run_ns;
};

SchedWindow sched_window(const CgroupSignals& cs, const CgroupSignals* p) {
  SchedWindow w{cs.rq_slots, cs.rq_count, cs.rq_sum_ns, cs.run_ns};
  if (p) {
    for (size_t i = 0; i < w.slots.size(); i++) w.slots[i] = grown(w.slots[i], p->rq_slots[i]);
    w.count = grown(w.count, p->rq_count);
    w.sum_ns = grown(w.sum_ns, p->rq_sum_ns);
    w.run_ns = grown(w.run_ns, p->run_ns);
  }
  return w;
}

// 1s, 250ms, 1.5s: a duration as the configuration writes it.
std::string duration_text(uint64_t ns) {
  if (ns % 1000000000ull == 0) return std::to_string(ns / 1000000000ull) + "s";
  if (ns % 1000000ull == 0) return std::to_string(ns / 1000000ull) + "ms";
  char b[32];
  snprintf(b, sizeof(b), "%gs", double(ns) * 1e-9);
  return b;
}

}  // namespace

std::vector<std::string> default_route_interfaces() {
  std::vector<std::string> out;
  auto text = read_file("/proc/net/route");
  if (!text) return out;
  bool header = true;
  for (auto line : split(*text, '\n')) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string_view> f;
    for (auto x : split(line, '\t'))
      if (!trim(x).empty()) f.push_back(trim(x));
    if (f.size() > 1 && f[1] == "00000000" &&
        std::find(out.begin(), out.end(), std::string(f[0])) == out.end())
      out.emplace_back(f[0]);
  }
  return out;
}

void Agent::set_stats_text() {
  std::string t = "off";
  if (stats_sampler_ && cfg_.bpf.run_time_stats)
    t = stats_sampler_->always_on() ? "always"
                                    : duration_text(cfg_.bpf.run_time_stats_window_ns) +
                                          " of every " +
                                          duration_text(cfg_.bpf.run_time_stats_period_ns);
  std::lock_guard<std::mutex> l(snap_mu_);
  stats_text_ = t;
}

Agent::Agent(AgentOptions opts) : opts_(std::move(opts)) {}

ClassTimes Agent::class_times() const {
  ClassTimes t;
  t.mono_ns = mono_ns();
  if (!programs_) return t;
  // The kernel charges CPU time at each switch; a task that has run since its
  // switch-in is not in class_ns yet (an LS hog alone on a CPU may not switch
  // for seconds). Add the running slice of each CPU, from a reading in which
  // that CPU did not switch (same since_ns before and after), so the fast
  // path sees LS demand within one sample and no time counts twice.
  std::vector<colo_cpu_state> before, after;
  for (int attempt = 0; attempt < 3; attempt++) {
    before = programs_->read_cpus();
    t.mono_ns = mono_ns();
    after = programs_->read_cpus();
    bool same = before.size() == after.size();
    for (size_t c = 0; same && c < before.size(); c++)
      same = before[c].since_ns == after[c].since_ns;
    if (same) break;
  }
  for (size_t c = 0; c < before.size() && c < after.size(); c++) {
    std::array<uint64_t, COLO_CLASS_MAX> ns;
    std::copy(std::begin(after[c].class_ns), std::end(after[c].class_ns), ns.begin());
    if (before[c].since_ns == after[c].since_ns && after[c].since_ns &&
        t.mono_ns > after[c].since_ns && after[c].cls < COLO_CLASS_MAX)
      ns[after[c].cls] += t.mono_ns - after[c].since_ns;
    t.ls_ns += ns[COLO_CLASS_LS];
    t.be_ns += ns[COLO_CLASS_BE];
    t.system_ns += ns[COLO_CLASS_SYSTEM];
    t.ls_ns_by_cpu[static_cast<int>(c)] = ns[COLO_CLASS_LS];
  }
  return t;
}
Agent::~Agent() = default;

void Agent::set_fast_intervals() {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  fast_interval_ns_ = duration_cast<nanoseconds>(cfg_.controller.fast_interval).count();
  fast_idle_interval_ns_ = duration_cast<nanoseconds>(cfg_.controller.tick).count();
}

bool Agent::load_config(Config* out) {
  std::vector<ConfigError> errs;
  Config c = opts_.config_path.empty() ? parse_config("", &errs)
                                       : load_config_file(opts_.config_path, &errs);
  if (!errs.empty()) {
    std::string msg = format_config_errors(opts_.config_path, errs);
    LOG_ERROR("invalid configuration:\n%s", msg.c_str());
    return false;
  }
  if (!opts_.metrics_addr.empty()) c.agent.metrics_addr = opts_.metrics_addr;
  if (!opts_.cgroup_root.empty()) c.cgroup.root = opts_.cgroup_root;
  if (!opts_.sysfs_root.empty()) c.topology.sysfs_root = opts_.sysfs_root;
  if (!opts_.bpf_pin_dir.empty()) c.bpf.pin_dir = opts_.bpf_pin_dir;
  if (!opts_.socket_path.empty()) c.agent.socket_path = opts_.socket_path;
  *out = c;
  return true;
}

nlohmann::json Agent::top_json(const Snapshot* prev, const Snapshot& cur) {
  nlohmann::json j;
  double window = prev && cur.mono_ns > prev->mono_ns ? (cur.mono_ns - prev->mono_ns) * kNs : 0;
  j["window_seconds"] = window;
  j["bpf_active"] = cur.bpf_active;
  j["attach_mode"] = cur.attach_mode;
  j["class_cpu_seconds"] = class_map(cur.class_ns, kNs, true);
  auto rows = nlohmann::json::array();
  for (auto& [path, cs] : cur.cgroups) {
    const CgroupSignals* p = earlier(prev, path);
    // Over the last window when there is one, else since the agent started.
    const SchedWindow sw = sched_window(cs, p);
    auto pre = cs.preempted_by, smt = cs.smt_ns;
    uint64_t reclaim = cs.mem.direct_reclaim_ns + cs.mem.memcg_reclaim_ns;
    if (p) {
      for (int c = 0; c < COLO_CLASS_MAX; c++) {
        pre[c] = grown(pre[c], p->preempted_by[c]);
        smt[c] = grown(smt[c], p->smt_ns[c]);
      }
      reclaim = grown(reclaim, p->mem.direct_reclaim_ns + p->mem.memcg_reclaim_ns);
    }
    nlohmann::json r;
    r["cgroup"] = path;
    r["class"] = cs.cls;
    r["runqueue_events"] = sw.count;
    r["runqueue_p50_seconds"] = hist_quantile(sw.slots.data(), sw.slots.size(), 0.5);
    r["runqueue_p99_seconds"] = hist_quantile(sw.slots.data(), sw.slots.size(), 0.99);
    r["runqueue_wait_seconds"] = sw.sum_ns * kNs;
    // Compact log2 histogram for bars: counts per octave of microseconds.
    auto oct = nlohmann::json::array();
    for (int o = 0; o < COLO_HIST_OCTAVES; o++) {
      uint64_t n = 0;
      for (int s = 0; s < COLO_HIST_SUBSLOTS; s++) n += sw.slots[1 + o * COLO_HIST_SUBSLOTS + s];
      oct.push_back(n);
    }
    r["runqueue_octaves_us"] = oct;
    r["cpu_seconds"] = sw.run_ns * kNs;
    r["preemptions"] = class_map(pre, 1, false);
    nlohmann::json sj;
    sj["be"] = smt[COLO_CLASS_BE] * kNs;
    sj["system"] = smt[COLO_CLASS_SYSTEM] * kNs;
    r["smt_interference_seconds"] = sj;
    r["memory_reclaim_stall_seconds"] = reclaim * kNs;
    auto aggr = nlohmann::json::array();
    for (auto& a : cs.top_aggressors)
      aggr.push_back({{"cgroup", a.path}, {"class", a.cls}, {"preemptions_total", a.count}});
    r["top_aggressors"] = aggr;
    auto psi = [&](const std::optional<Psi>& now, const std::optional<Psi>* before) {
      nlohmann::json pj = nullptr;
      if (!now || !now->some) return pj;
      pj = nlohmann::json::object();
      pj["waiting_avg10_percent"] = now->some->avg10;
      if (now->full) pj["stalled_avg10_percent"] = now->full->avg10;
      (void)before;
      return pj;
    };
    r["pressure_cpu"] = psi(cs.psi_cpu, nullptr);
    r["pressure_memory"] = psi(cs.psi_memory, nullptr);
    r["pressure_io"] = psi(cs.psi_io, nullptr);
    uint64_t txb = 0;
    for (auto& [ifn, tx] : cs.tx) {
      uint64_t before = 0;
      if (p) {
        auto it = p->tx.find(ifn);
        if (it != p->tx.end()) before = it->second.bytes;
      }
      txb += tx.bytes - std::min<uint64_t>(tx.bytes, before);
    }
    r["transmit_bytes"] = txb;
    rows.push_back(std::move(r));
  }
  // LS pain first: LS before others, then the worst p99.
  std::sort(rows.begin(), rows.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    bool al = a["class"] == "ls", bl = b["class"] == "ls";
    if (al != bl) return al;
    double pa = a["runqueue_p99_seconds"], pb = b["runqueue_p99_seconds"];
    if (pa != pb) return pa > pb;
    return a["cgroup"].get<std::string>() < b["cgroup"].get<std::string>();
  });
  j["cgroups"] = rows;
  return j;
}

Agent::ControlWindow Agent::control_window(const Snapshot& prev, const Snapshot& cur) {
  ControlWindow w;
  w.window_s = cur.mono_ns > prev.mono_ns ? (cur.mono_ns - prev.mono_ns) * kNs : 0;
  for (auto& [path, cs] : cur.cgroups) {
    const bool ls = cs.cls == "ls", be = cs.cls == "be";
    if (!ls && !be) continue;
    const SchedWindow sw = sched_window(cs, earlier(&prev, path));
    if (ls) {
      if (sw.count == 0) continue;
      const double p99 = hist_quantile(sw.slots.data(), sw.slots.size(), 0.99);
      w.worst_ls_p99 = std::max(w.worst_ls_p99.value_or(0), p99);
    } else {
      const double run = sw.run_ns * kNs;
      w.be_run_s += run;
      w.be_wait_s += sw.sum_ns * kNs;
      if (w.window_s > 0) w.be_cores[path] = run / w.window_s;
    }
  }
  return w;
}

nlohmann::json Agent::status_json() {
  std::string stats_text;
  {
    std::lock_guard<std::mutex> l(snap_mu_);
    stats_text = stats_text_;
  }
  nlohmann::json j;
  j["version"] = COLO_VERSION;
  j["revision"] = COLO_REVISION;
  j["ready"] = ready_.load();
  j["bpf"] = {{"status", bpf_status_},
              {"attach_mode", programs_ ? bpf::attach_mode_name(programs_->mode()) : "none"},
              {"wait_source",
               programs_ ? bpf::wait_source_name(programs_->wait_source()) : "none"},
              {"pin_dir", cfg_.bpf.pin_dir},
              {"run_time_stats", stats_text != "off"},
              {"run_time_stats_sample", stats_text},
              {"egress_interfaces",
               programs_ ? programs_->egress_interfaces() : std::vector<std::string>{}}};
  j["cgroup"] = {{"root", cfg_.cgroup.root},
                 {"bigbox", cfg_.cgroup.bigbox},
                 {"system", cfg_.cgroup.system}};
  {
    std::lock_guard<std::mutex> l(snap_mu_);
    if (cur_) {
      j["tracked_cgroups"] = cur_->tracked_cgroups;
      j["class_cpu_seconds"] = class_map(cur_->class_ns, kNs, true);
    }
  }
  if (controller_) {
    j["control"] = controller_->status();
    // Evictions: totals by reason (what /metrics counts) and the recent ones
    // with the reason each was decided for.
    nlohmann::json totals = nlohmann::json::object(), recent = nlohmann::json::array();
    for (auto& f : controller_->Collect())
      if (f.name == "colo_evictions_total")
        for (auto& m : f.metric)
          if (!m.label.empty()) totals[m.label[0].value] = m.counter.value;
    for (auto& d : j["control"]["decisions"]) {
      std::string what = d.value("what", "");
      if (what.rfind("evict", 0) == 0 || what.rfind("would evict", 0) == 0) recent.push_back(d);
    }
    while (recent.size() > 10) recent.erase(recent.begin());
    j["evictions"] = {{"totals", totals}, {"recent", recent}};
  }
  if (netctl_) j["network"] = netctl_->status();
  if (k8s_) j["kubernetes"] = k8s_->status();
  {
    std::lock_guard<std::mutex> l(events_mu_);
    j["urgent_events_total"] = urgent_total_.load();
    j["recent_urgent_events"] = nlohmann::json(std::vector<nlohmann::json>(
        recent_urgent_.begin(), recent_urgent_.end()));
  }
  return j;
}

nlohmann::json Agent::handle(const nlohmann::json& req) {
  std::string cmd = req.value("cmd", "");
  if (cmd == "status") return status_json();
  if (cmd == "disable" || cmd == "enable") {
    if (!controller_ && !netctl_) return {{"error", "this agent does not manage a big box"}};
    if (netctl_) netctl_->set_enabled(cmd == "enable");
    if (!controller_) return {{"enabled", netctl_->enabled()}};
    controller_->set_enabled(cmd == "enable", req.value("evict", false));
    return {{"enabled", controller_->enabled()}};
  }
  if (cmd == "top") {
    std::shared_ptr<const Snapshot> prev, cur;
    {
      std::lock_guard<std::mutex> l(snap_mu_);
      prev = prev_;
      cur = cur_;
    }
    if (!cur) return {{"error", "no data collected yet"}};
    return top_json(prev.get(), *cur);
  }
  return {{"error", "unknown command '" + cmd + "'"}};
}

int Agent::run() {
  if (!load_config(&cfg_)) return 1;
  exporter_.configure(cfg_.metrics);
  LogLevel lvl;
  if (parse_log_level(cfg_.agent.log_level, &lvl)) set_log_level(lvl);

  // Signals are taken synchronously by the main loop; threads inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::string err;
  std::optional<CgroupLayout> layout = CgroupLayout::discover(cfg_.cgroup.root, &err);
  if (!layout) layout = CgroupLayout::from_tree(cfg_.cgroup.root, &err);
  if (!layout) {
    LOG_ERROR("cannot find cgroup hierarchies under %s: %s", cfg_.cgroup.root.c_str(),
              err.c_str());
    return 1;
  }
  std::optional<Topology> topo = read_topology(cfg_.topology.sysfs_root, &err);
  if (!topo) {
    LOG_ERROR("cannot read CPU topology under %s: %s", cfg_.topology.sysfs_root.c_str(),
              err.c_str());
    return 1;
  }
  if (!cfg_.topology.smt_siblings.empty() &&
      !apply_sibling_override(*topo, cfg_.topology.smt_siblings, &err)) {
    LOG_ERROR("topology.smt_siblings: %s", err.c_str());
    return 1;
  }

  const Hierarchy* cpu_h = layout->for_controller("cpu");
  const Hierarchy* mem_h = layout->for_controller("memory");
  if (cfg_.bpf.attach == "none") {
    bpf_status_ = "disabled by configuration (bpf.attach: none)";
    LOG_WARN("BPF disabled by configuration: only cgroupfs signals (PSI) are available");
  } else {
    bpf::LoadOptions lo;
    lo.pin_dir = cfg_.bpf.pin_dir;
    lo.mode = *bpf::parse_attach_mode(cfg_.bpf.attach);
    lo.wait_source = *bpf::parse_wait_source(cfg_.bpf.wait_source);
    bpf::set_cgroup_hierarchies(*layout, &lo);
    if (topo->smt()) {
      int maxcpu = topo->possible.empty() ? 0 : topo->possible.back();
      lo.sibling_of.assign(maxcpu + 1, -1);
      for (int c = 0; c <= maxcpu; c++) lo.sibling_of[c] = topo->sibling_of(c);
    }
    lo.urgent_threshold_ns = cfg_.bpf.urgent_latency_ns;
    lo.urgent_interval_ns = cfg_.bpf.urgent_interval_ns;
    lo.quiet_self = true;
    lo.max_cgroups = cfg_.bpf.max_cgroups;
    lo.btf_path = cfg_.bpf.btf_path;
    lo.run_time_stats = cfg_.bpf.run_time_stats;
    programs_ = bpf::Programs::load(lo, &err);
    if (!programs_) {
      bpf_status_ = "unavailable: " + err;
      LOG_WARN("BPF unavailable (%s). Falling back to cgroupfs: PSI only; run-queue latency, "
               "preemption, SMT, reclaim and egress signals are off. colo needs root (or "
               "CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN) and a kernel with BTF (or bpf.btf_path).",
               err.c_str());
    } else {
      bpf_status_ = "attached";
      std::vector<std::string> ifaces;
      for (auto& i : cfg_.network.interfaces) {
        if (i != "auto") ifaces.push_back(i);
        else
          for (auto& d : default_route_interfaces())
            if (std::find(ifaces.begin(), ifaces.end(), d) == ifaces.end()) ifaces.push_back(d);
      }
      const Hierarchy* v2 = layout->unified();
      netctl_ = std::make_unique<NetController>(cfg_, programs_.get(), ifaces,
                                                v2 ? v2->mount : "", opts_.dry_run);
      netctl_->start();
      exporter_.add_source(netctl_.get());
    }
  }
  // Kubernetes mode: colo's own container is node infrastructure, not an LS
  // service; its CPU is counted as system. (On a bare host the agent runs in
  // system.slice under systemd, or in a user's shell, whose cgroup holds more.)
  if (cfg_.kubernetes.enabled) {
    auto self = parse_proc_cgroup(read_file("/proc/self/cgroup").value_or(""));
    for (const Hierarchy* h : {cpu_h, layout->unified()}) {
      auto p = self && h ? path_in(*self, *h) : std::nullopt;
      if (!p || *p == "/" || path_is_within(*p, cfg_.cgroup.bigbox) ||
          std::find(cfg_.cgroup.system.begin(), cfg_.cgroup.system.end(), *p) !=
              cfg_.cgroup.system.end())
        continue;
      cfg_.cgroup.system.push_back(*p);
      LOG_INFO("kubernetes mode: colo's own cgroup %s counts as system", p->c_str());
    }
  }
  // With the kernel side, the hierarchies are walked when it saw a cgroup
  // come, go or be renamed (and every 10 collections anyway), and PSI is read
  // for 100 cgroups per collection in turn; without it, all at every one.
  CollectorOptions copts;
  if (bpf::Programs* p = programs_.get()) {
    copts.tree_gen = [p] { return p->cgroup_tree_gen(); };
    copts.walk_every = 10;
    copts.psi_per_collect = 100;
    stats_sampler_ = std::make_unique<StatsSampler>(
        cfg_.bpf.run_time_stats_window_ns, cfg_.bpf.run_time_stats_period_ns,
        StatsSampler::Io{[p](bool on) { return p->set_run_time_stats(on); },
                         [p] { return p->prog_stats(); }});
    if (!cfg_.bpf.run_time_stats) stats_sampler_->set_enabled(false, mono_ns());
    copts.prog_stats = [s = stats_sampler_.get()] { return s->totals(mono_ns()); };
  }
  set_stats_text();
  collector_ = std::make_unique<Collector>(cfg_, *layout, *topo, programs_.get(), std::move(copts));
  if (cfg_.cgroup.manage_bigbox) {
    BigBox::Options bo;
    bo.rel_path = cfg_.cgroup.bigbox;
    bo.rel_path_for = cfg_.cgroup.bigbox_paths;
    bo.create = cfg_.cgroup.bigbox_create;
    bo.dry_run = opts_.dry_run;
    auto box = BigBox::open(*layout, bo, &err);
    if (!box) {
      LOG_ERROR("big box: %s; the agent observes only", err.c_str());
    } else {
      controller_ = std::make_unique<Controller>(cfg_, std::move(*box), *topo, clock_);
      exporter_.add_source(controller_.get());
      if (!programs_)
        LOG_WARN("without BPF the control loop has no fast path and no LS CPU signal: the box "
                 "is held at its floor");
    }
  }

  if (cfg_.kubernetes.enabled) {
    k8s::KubernetesMode::Paths kp;
    kp.config_file = opts_.config_path;
    kp.pod_hierarchy = cpu_h ? cpu_h->mount : cfg_.cgroup.root;
    kp.memory_hierarchy = mem_h ? mem_h->mount : "";
    kp.bigbox = cfg_.cgroup.bigbox;
    k8s_ = std::make_unique<k8s::KubernetesMode>(cfg_, kp, clock_);
    if (!k8s_->init(&err)) {
      LOG_ERROR("kubernetes mode: %s", err.c_str());
      return 1;
    }
    exporter_.set_label_resolver(
        [k = k8s_.get()](const std::string& path) { return k->metric_labels(path); });
    if (controller_) controller_->set_pod_eviction(k8s_.get());
    k8s_->start();
  }

  // /metrics, /healthz, /readyz
  httplib::Server http;
  http.Get("/metrics", [&](const httplib::Request&, httplib::Response& r) {
    r.set_content(exporter_.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz", [&](const httplib::Request&, httplib::Response& r) {
    r.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz", [&](const httplib::Request&, httplib::Response& r) {
    if (ready_) {
      r.set_content("ready\n", "text/plain");
    } else {
      r.status = 503;
      r.set_content("not ready: first collection pending\n", "text/plain");
    }
  });
  ControlServer control;
  if (!control.start(cfg_.agent.socket_path, [this](const nlohmann::json& r) { return handle(r); },
                     &err)) {
    LOG_ERROR("control socket: %s", err.c_str());
    return 1;
  }
  auto [host, port] = split_host_port(cfg_.agent.metrics_addr);
  if (!http.bind_to_port(host, port)) {
    LOG_ERROR("cannot listen on %s for /metrics (in use, or not a local address?)",
              cfg_.agent.metrics_addr.c_str());
    return 1;
  }
  std::thread http_thread([&] { http.listen_after_bind(); });
  // httplib ignores a stop() that comes before its accept loop runs.
  auto stop_http = [&] {
    for (int i = 0; i < 500 && !http.is_running(); i++) usleep(10000);
    http.stop();
    http_thread.join();
  };

  std::thread events_thread;
  set_fast_intervals();
  if (programs_) {
    // Urgent events wake this thread at once (ring buffer epoll); between
    // them it samples LS demand every controller.fast_interval while BE
    // runs (the fast path is armed), else every controller.tick.
    events_thread = std::thread([&] {
      uint64_t next_sample = mono_ns();
      while (!stopping_) {
        uint64_t now = mono_ns();
        int timeout_ms = next_sample > now ? static_cast<int>((next_sample - now + 999999) / 1000000)
                                           : 0;
        bool be_woke = false;
        int polled = programs_->poll_events(timeout_ms, [&](const colo_urgent_event& e) {
          urgent_total_++;
          if (controller_) {
            std::string queued = e.queued_cls < COLO_CLASS_MAX
                                     ? std::string(" (queued behind ") + class_name(e.queued_cls) + ")"
                                     : "";
            controller_->on_urgent(e.ts_ns,
                                   "LS task " + std::to_string(e.pid) + " (cgroup id " +
                                       std::to_string(e.cgid) + ") waited " +
                                       std::to_string(e.latency_ns / 1000) + " us" + queued +
                                       " after " + class_name(e.prev_cls),
                                   Controller::be_in_way(e.prev_cls, e.queued_cls));
          }
          std::lock_guard<std::mutex> l(events_mu_);
          recent_urgent_.push_back({{"cgroup_id", e.cgid},
                                    {"latency_seconds", e.latency_ns * kNs},
                                    {"pid", e.pid},
                                    {"cpu", e.cpu},
                                    {"after_class", class_name(e.prev_cls)},
                                    {"queued_behind_class", class_name(e.queued_cls)}});
          if (recent_urgent_.size() > 20) recent_urgent_.pop_front();
        }, [&] { be_woke = true; });
        // No ring buffer: poll returns at once; wait the timeout out here.
        if (polled == -ENOTSUP && timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
        now = mono_ns();
        if (be_woke && controller_) {
          // BE got a CPU while the fast path slept: sample every
          // fast_interval from now on (the wake arms it for a while).
          controller_->on_be_running(now);
          next_sample = std::min(next_sample, now + fast_interval_ns_.load());
        }
        if (now >= next_sample) {
          bool armed = false;
          if (controller_) {
            controller_->on_fast_sample(class_times());
            armed = controller_->fast_path_armed();
            // Asleep, the next BE task to get a CPU wakes this thread.
            programs_->want_be_wake(!armed);
          }
          next_sample = now + (armed ? fast_interval_ns_.load() : fast_idle_interval_ns_.load());
        }
      }
    });
  }

  LOG_INFO("colo agent running: metrics on http://%s/metrics, socket %s",
           cfg_.agent.metrics_addr.c_str(), cfg_.agent.socket_path.c_str());
  int exit_code = 0;
  uint64_t next_collect = 0;
  while (true) {
    // One read of the kernel's per-class times serves the clock and the tick.
    ClassTimes times = class_times();
    uint64_t now = times.mono_ns;
    if (stats_sampler_) stats_sampler_->step(now);
    if (now >= next_collect) {
      auto snap = std::make_shared<Snapshot>(collector_->collect());
      exporter_.update(snap);
      std::shared_ptr<const Snapshot> prev;
      {
        std::lock_guard<std::mutex> l(snap_mu_);
        prev = prev_ = cur_;
        cur_ = snap;
      }
      ready_ = true;
      next_collect = now + cfg_.agent.collect_interval_ms * 1000000ull;
      if (controller_) {
        // The worst LS run-queue p99 over the last window, for eviction.
        // BE's CPU time and run-queue wait, for its CPU satisfaction.
        ControlWindow w;
        if (prev && snap->bpf_active) w = control_window(*prev, *snap);
        controller_->set_ls_latency_p99(w.worst_ls_p99);
        controller_->observe_be_cpu(w.window_s, w.be_run_s, w.be_wait_s, std::move(w.be_cores));
        // LS reclaim stall over the window, for the memory-pressure rule
        // (with BPF from the kernel's counters, else from PSI).
        if (prev && snap->mono_ns > prev->mono_ns)
          controller_->observe_ls_reclaim((snap->mono_ns - prev->mono_ns) * 1e-9,
                                          ls_reclaim_stall(*prev, *snap));
        else
          controller_->observe_ls_reclaim(0, {});
      }
    }
    if (controller_) controller_->tick(times);
    if (k8s_) {
      if (controller_) {
        // colo disable: nothing for new BE pods on this node.
        auto c = controller_->colocatable();
        bool on = controller_->enabled();
        k8s_->set_colocatable(on ? c.cpu_cores : 0, on ? c.memory_bytes : 0);
      }
      if (auto np = k8s_->take_policy()) {
        cfg_.policy = np->config.policy;
        cfg_.controller = np->config.controller;
        cfg_.eviction = np->config.eviction;
        set_fast_intervals();
        if (controller_) controller_->reconfigure(cfg_);
        LOG_INFO("node-group policy '%s' applied", np->group.c_str());
      }
    }
    // Wake for the next controller tick or collection, or a signal.
    uint64_t wait_ns = cfg_.agent.collect_interval_ms * 1000000ull;
    if (controller_)
      wait_ns = std::min<uint64_t>(wait_ns, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                cfg_.controller.tick).count());
    if (stats_sampler_ && stats_sampler_->next_due_ns() > now)
      wait_ns = std::min(wait_ns, stats_sampler_->next_due_ns() - now);
    timespec ts{static_cast<time_t>(wait_ns / 1000000000ull),
                static_cast<long>(wait_ns % 1000000000ull)};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      LOG_INFO("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) {
      Config next;
      if (!load_config(&next)) {
        LOG_ERROR("reload rejected; keeping the last good configuration");
        continue;
      }
      if (parse_log_level(next.agent.log_level, &lvl)) set_log_level(lvl);
      cfg_.agent.collect_interval_ms = next.agent.collect_interval_ms;
      std::string restart;
      for (const auto& k : bpf_changes_needing_restart(cfg_.bpf, next.bpf))
        restart += (restart.empty() ? "" : ", ") + k;
      if (!restart.empty())
        LOG_WARN("%s changed: kept as loaded until the agent restarts", restart.c_str());
      cfg_.bpf.urgent_latency_ns = next.bpf.urgent_latency_ns;
      cfg_.bpf.urgent_interval_ns = next.bpf.urgent_interval_ns;
      if (programs_) programs_->set_urgent(next.bpf.urgent_latency_ns, next.bpf.urgent_interval_ns);
      if (stats_sampler_) {
        if (next.bpf.run_time_stats != cfg_.bpf.run_time_stats)
          LOG_INFO("BPF run-time stats %s (bpf.run_time_stats)",
                   next.bpf.run_time_stats ? "on" : "off: colo_bpf_prog_* stop growing");
        stats_sampler_->reconfigure(next.bpf.run_time_stats_window_ns,
                                    next.bpf.run_time_stats_period_ns);
        stats_sampler_->set_enabled(next.bpf.run_time_stats, mono_ns());
      }
      cfg_.bpf.run_time_stats = next.bpf.run_time_stats;
      cfg_.bpf.run_time_stats_window_ns = next.bpf.run_time_stats_window_ns;
      cfg_.bpf.run_time_stats_period_ns = next.bpf.run_time_stats_period_ns;
      set_stats_text();
      cfg_.policy = next.policy;
      cfg_.controller = next.controller;
      set_fast_intervals();
      cfg_.eviction = next.eviction;
      if (controller_) controller_->reconfigure(cfg_);
      if (netctl_) netctl_->reconfigure(next);
      if (k8s_) k8s_->invalidate_policy();  // the node group's policy goes on top again
      LOG_INFO("configuration reloaded");
    }
  }

  stopping_ = true;
  if (events_thread.joinable()) events_thread.join();
  if (k8s_) k8s_->stop();
  if (controller_) controller_->enter_safe_state();
  control.stop();
  stop_http();
  netctl_.reset();    // removes colo's HTBs and egress filters
  programs_.reset();  // detaches; pinned maps stay for bpftool and the next agent
  return exit_code;
}

}  // namespace colo
