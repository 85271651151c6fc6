#include "agent/controller.h"

#include <sys/statvfs.h>

#include <signal.h>
#include <time.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "agent/cpuset_choice.h"
#include "colo_abi.h"
#include "agent/policy/eviction.h"
#include "agent/policy/format.h"
#include "userspace/util/fs.h"
#include "userspace/util/log.h"
#include "userspace/util/mono.h"
#include "userspace/util/parse.h"

namespace colo {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Reaction buckets: 100us .. 10s.
const std::vector<double>& reaction_bounds() {
  static const std::vector<double> b = {1e-4,  2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
                                        2.5e-2, 5e-2,  0.1,  0.25, 0.5,    1,    2.5,
                                        5,      10};
  return b;
}

MetricFamily gauge(const char* name, const char* help, double v) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = MetricType::Gauge;
  ClientMetric m;
  m.gauge.value = v;
  f.metric.push_back(m);
  return f;
}

}  // namespace

std::pair<uint64_t, uint64_t> read_meminfo(KeptFile* f) {
  auto text = f ? f->read() : read_file("/proc/meminfo");
  if (!text) return {0, 0};
  uint64_t total = 0, avail = 0;
  for (auto line : split(*text, '\n')) {
    auto parse = [&](std::string_view key, uint64_t* out) {
      if (line.substr(0, key.size()) != key) return;
      *out = std::strtoull(std::string(line.substr(key.size())).c_str(), nullptr, 10) * 1024;
    };
    parse("MemTotal:", &total);
    parse("MemAvailable:", &avail);
  }
  return {total, avail};
}

Controller::Controller(const Config& cfg, BigBox box, Topology topo, const policy::Clock& clock)
    : cfg_(cfg),
      box_(std::move(box)),
      topo_(std::move(topo)),
      clock_(clock),
      policy_(cfg.policy),
      cpu_ctl_(cfg.controller),
      eviction_(cfg.eviction) {
  for (auto r : policy::all_reasons()) evictions_[policy::reason_name(r)] = 0;
  evictions_["disabled"] = 0;  // colo disable --evict
  for (const char* t : {"urgent_latency", "ls_demand", "tick"}) reactions_[t];
  // A restarted agent continues from what the box has (never from unlimited),
  // and so does the dynamic amount's smoothing: it would otherwise rise from
  // zero and cut the adopted box for a second or two after every restart.
  const auto adopted_cpu = box_.cpu_quota_cores();
  if (adopted_cpu) cpu_ctl_.adopt(*adopted_cpu);
  const auto adopted_mem = box_.memory_limit();
  policy_.seed(adopted_cpu, adopted_mem ? std::optional<double>(static_cast<double>(*adopted_mem))
                                        : std::nullopt);
  box_.set_min_weight();
  box_.set_oom_first();
}

double Controller::capacity_cores() const {
  return topo_.online.empty() ? 1.0 : static_cast<double>(topo_.online.size());
}

void Controller::observe_reaction_locked(const std::string& trigger, double s) {
  Hist& h = reactions_[trigger];
  const auto& b = reaction_bounds();
  if (h.counts.empty()) h.counts.assign(b.size(), 0);
  for (size_t i = 0; i < b.size(); i++)
    if (s <= b[i]) h.counts[i]++;
  h.n++;
  h.sum += s;
}

void Controller::decide_locked(const std::string& what, const std::string& reason) {
  nlohmann::json d = {{"what", what}, {"reason", reason}};
  auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                  clock_.now_wall().time_since_epoch())
                  .count();
  d["time_unix_ms"] = wall;
  decisions_.push_back(d);
  if (decisions_.size() > 50) decisions_.pop_front();
  LOG_INFO("decision: %s (%s)", what.c_str(), reason.c_str());
}

// Writes the quota (and, on the slow path, the cpuset) when it changed.
void Controller::apply_locked(double cores, const std::string& trigger, uint64_t signal_ns) {
  if (!enabled_) cores = BigBox::kFloorCores;
  cores = std::max(cores, BigBox::kFloorCores);
  bool quota_changed = !applied_.quota || std::fabs(*applied_.quota - cores) > 0.005;
  if (quota_changed) {
    if (box_.set_cpu_quota(cores) == 0) {
      applied_.quota = cores;
      if (signal_ns) {
        uint64_t now = mono_ns();
        if (now > signal_ns) observe_reaction_locked(trigger, (now - signal_ns) * 1e-9);
      }
    }
  }
}

std::vector<int> Controller::box_cpus_locked(double quota_cores) const {
  return choose_box_cpus(topo_, std::max(quota_cores, BigBox::kFloorCores), tick_busy_, 1,
                         applied_.cpus, cfg_.controller.cpuset_cover);
}

void Controller::cut_locked(const std::string& what, double cores, const std::string& trigger,
                            uint64_t signal_ns, const std::string& reason) {
  apply_locked(cores, trigger, signal_ns);
  std::string decision = what + " " + std::to_string(cores) + " cores";
  // The cpuset the tick would choose for the quota now, if it has fewer CPUs
  // (only fewer: the tick widens the set again as the allowance grows).
  if (cfg_.controller.fast_cpuset && applied_.cpus.size() > 1) {
    auto cpus = box_cpus_locked(applied_.quota.value_or(cores));
    if (cpus.size() < applied_.cpus.size() && box_.set_cpuset(cpus) == 0) {
      applied_.cpus = cpus;
      decision += "; cpuset " + format_cpu_list(cpus);
    }
  }
  decide_locked(decision, reason);
}

bool Controller::be_in_way(uint32_t after_cls, uint32_t queued_cls) {
  return after_cls == COLO_CLASS_BE && queued_cls != COLO_CLASS_LS && queued_cls != COLO_CLASS_SYSTEM;
}

void Controller::on_urgent(uint64_t kernel_ts_ns, const std::string& why, bool be_in_way) {
  std::lock_guard<std::mutex> l(mu_);
  if (!be_in_way) return;
  urgent_since_tick_++;
  if (!cfg_.cgroup.manage_bigbox) return;
  auto a = cpu_ctl_.clamp_now(why, clock_.now_mono());
  if (a.changed) {
    cut_locked("clamp cpu quota to", a.amount, "urgent_latency", kernel_ts_ns, a.reason);
  }
}

bool Controller::cut_pending_locked() const {
  // What apply_locked() would write: never under the floor.
  const double want =
      enabled_ ? std::max(cpu_ctl_.allowance(), BigBox::kFloorCores) : BigBox::kFloorCores;
  return applied_.quota && *applied_.quota > want + 0.005;
}

bool Controller::fast_path_armed() const {
  std::lock_guard<std::mutex> l(mu_);
  return fast_armed_;
}

void Controller::on_be_running(uint64_t mono_ns) {
  std::lock_guard<std::mutex> l(mu_);
  be_wakes_++;
  armed_until_ns_ =
      mono_ns + 2 * std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.controller.fast_window)
                        .count();
  fast_armed_ = cfg_.cgroup.manage_bigbox;
}

void Controller::on_fast_sample(const ClassTimes& t) {
  std::lock_guard<std::mutex> l(mu_);
  fast_samples_++;
  // BE used (next to) no CPU over the fast window: one sample that saw none
  // (a read that missed a CPU's running slice) does not put the path to sleep.
  bool be_idle = false;
  if (prev_fast_ && t.mono_ns > prev_fast_->mono_ns) {
    double dt = (t.mono_ns - prev_fast_->mono_ns) * 1e-9;
    const double ls = grown_s(t.ls_ns, prev_fast_->ls_ns) / dt;
    const double sys = grown_s(t.system_ns, prev_fast_->system_ns) / dt;
    const double be = grown_s(t.be_ns, prev_fast_->be_ns) / dt;
    fast_ls_.push_back({prev_fast_->mono_ns, t.mono_ns, ls, sys, be});
    const uint64_t window_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.controller.fast_window).count();
    while (fast_ls_.size() > 1 && t.mono_ns - fast_ls_.front().start_ns > window_ns)
      fast_ls_.pop_front();
    // LS (with system) demand over the last fast_window no longer fits beside
    // the box's allowance on the node's CPUs, and BE is using them (the CPUs
    // are saturated): LS would wait for BE. Cut now, not at the next tick, to
    // what LS leaves. (The watermark is the slow path's business: the policy
    // already keeps the target below it.) A burst of LS next to an idle box
    // is no reason: nothing is in its way, and a cut would only slow BE later.
    double ls_s = 0, sys_s = 0, be_s = 0, span_s = 0;
    for (auto& f : fast_ls_) {
      const double d = (f.end_ns - f.start_ns) * 1e-9;
      ls_s += f.ls_cores * d;
      sys_s += f.sys_cores * d;
      be_s += f.be_cores * d;
      span_s += d;
    }
    be_idle = be_s / span_s < kBeIdleCores;
    const double ls_avg = ls_s / span_s, sys_avg = sys_s / span_s;
    const double avg = ls_avg + sys_avg;
    const bool window_full = span_s * 2e9 >= window_ns;
    const double usable = capacity_cores() * cfg_.controller.saturation;
    const double room = usable - avg;
    const bool saturated = avg + be_s / span_s >= usable;
    // A cut the kernel refused (a failed quota write) is retried on every
    // sample until it lands, not left to the next tick.
    if (cfg_.cgroup.manage_bigbox && cut_pending_locked())
      apply_locked(cpu_ctl_.allowance(), "ls_demand", 0);
    // The dynamic policy's own rule, applied at once: LS (with system) use
    // over the window leaves BE less than the allowance under the watermark.
    // The next tick would lower the target to that anyway; here it happens
    // within the window. Only when BE uses more than it would be left (else
    // the cut changes nothing now and the tick's average decides) and by more
    // than noise (as the policy's own release), and without restarting the
    // hold: LS is busier, not hurt.
    if (cfg_.cgroup.manage_bigbox && enabled_ && window_full) {
      const double noise = std::max(0.05, 0.05 * capacity_cores());
      const double be_avg = be_s / span_s;
      auto left = policy_.cpu_if_used(ls_avg, sys_avg);
      if (left && cpu_ctl_.allowance() > *left + noise && be_avg > *left + noise) {
        uint64_t since = fast_ls_.back().start_ns;
        for (auto it = fast_ls_.rbegin(); it != fast_ls_.rend(); ++it) {
          auto l = policy_.cpu_if_used(it->ls_cores, it->sys_cores);
          if (!l || cpu_ctl_.allowance() <= *l + noise) break;
          since = it->start_ns;
        }
        auto a = cpu_ctl_.lower_now(*left, "LS " + std::to_string(ls_avg) + " + system " +
                                              std::to_string(sys_avg) + " cores over the fast window",
                                    clock_.now_mono());
        if (a.changed) {
          cut_locked("cpu allowance", a.amount, "ls_demand", since, a.reason);
        }
      }
    }
    if (cfg_.cgroup.manage_bigbox && window_full && saturated &&
        cpu_ctl_.allowance() > room && cpu_ctl_.allowance() > BigBox::kFloorCores) {
      // The signal: the start of the run of samples in which LS no longer fit.
      uint64_t since = fast_ls_.back().start_ns;
      for (auto it = fast_ls_.rbegin(); it != fast_ls_.rend(); ++it) {
        if (cpu_ctl_.allowance() <= usable - it->cores()) break;
        since = it->start_ns;
      }
      auto a = cpu_ctl_.clamp_demand("LS demand " + std::to_string(avg) +
                                         " cores leaves room for " +
                                         std::to_string(std::max(room, 0.0)),
                                     clock_.now_mono(), room);
      if (a.changed) {
        cut_locked("clamp cpu quota to", a.amount, "ls_demand", since, a.reason);
      }
    }
  }
  prev_fast_ = t;
  fast_armed_ = cfg_.cgroup.manage_bigbox &&
                (!be_idle || cut_pending_locked() || t.mono_ns < armed_until_ns_);
}

void Controller::tick(const ClassTimes& t) {
  std::lock_guard<std::mutex> l(mu_);
  auto now = clock_.now_mono();
  const auto meminfo = read_meminfo(&meminfo_);
  const auto [mem_total, mem_avail] = meminfo;
  // BE's memory now (the box's usage), for the policy and the limit.
  const auto usage = box_.memory_usage();
  // What LS (with system) left of the saturated CPUs over this tick: how far
  // the box may return after cuts for LS demand.
  double room = std::numeric_limits<double>::infinity();
  if (prev_tick_ && t.mono_ns > prev_tick_->mono_ns) {
    double dt = (t.mono_ns - prev_tick_->mono_ns) * 1e-9;
    policy::NodeSample s;
    s.at = now;
    s.capacity_cpu_cores = capacity_cores();
    s.capacity_memory_bytes = mem_total;
    s.ls_cpu_cores = grown_s(t.ls_ns, prev_tick_->ls_ns) / dt;
    s.system_cpu_cores = grown_s(t.system_ns, prev_tick_->system_ns) / dt;
    s.be_cpu_cores = grown_s(t.be_ns, prev_tick_->be_ns) / dt;
    room = capacity_cores() * cfg_.controller.saturation - s.ls_cpu_cores - s.system_cpu_cores;
    s.be_memory_bytes = usage.value_or(0);
    uint64_t used = mem_total > mem_avail ? mem_total - mem_avail : 0;
    s.ls_memory_bytes = used > s.be_memory_bytes ? used - s.be_memory_bytes : 0;
    policy_.observe(s);
  }
  last_colocatable_ = policy_.update(clock_);
  if (!last_colocatable_.hold_change.empty())
    decide_locked("peak hold " + last_colocatable_.hold_change, last_colocatable_.hold_change_why);
  bool healthy = urgent_since_tick_ == 0;
  urgent_since_tick_ = 0;
  // The first tick has no sample yet (its "stale" would cut an adopted box to
  // zero at every agent restart): the box keeps what it has until the next.
  const bool first_tick = !prev_tick_;
  // What it has, but never unlimited: an unadopted box starts at the floor.
  if (cfg_.cgroup.manage_bigbox && first_tick) apply_locked(cpu_ctl_.allowance(), "tick", 0);
  if (cfg_.cgroup.manage_bigbox && !first_tick) {
    auto a = cpu_ctl_.tick(enabled_ ? last_colocatable_.cpu_cores : 0, healthy, now, room);
    apply_locked(a.amount, "tick", 0);
    if (a.changed) decide_locked("cpu allowance " + std::to_string(a.amount) + " cores", a.reason);
    // The cpuset follows the allowance: whole cores LS is least busy on, as
    // many as leave BE its allowance beside what LS uses on them.
    tick_busy_.clear();
    if (prev_tick_ && t.mono_ns > prev_tick_->mono_ns) {
      double dt = (t.mono_ns - prev_tick_->mono_ns) * 1e-9;
      for (auto& [cpu, ns] : t.ls_ns_by_cpu) {
        auto it = prev_tick_->ls_ns_by_cpu.find(cpu);
        if (it != prev_tick_->ls_ns_by_cpu.end() && ns >= it->second)
          tick_busy_[cpu] = (ns - it->second) * 1e-9 / dt;
      }
    }
    auto cpus = box_cpus_locked(applied_.quota.value_or(0));
    if (cpus != applied_.cpus && box_.set_cpuset(cpus) == 0) applied_.cpus = cpus;
    // Memory: the colocatable amount, never below what BE holds now by more
    // than the kernel can reclaim in one step (EBUSY is retried next tick).
    uint64_t mem = enabled_ ? last_colocatable_.memory_bytes : usage.value_or(64ull << 20);
    // Under memory pressure LS shares with BE: below what BE holds, one step
    // further for each pressured window, until the pressure has been gone
    // for memory_pressure_hold.
    if (mem_pressure_until_ && now >= *mem_pressure_until_) {
      mem_pressure_until_.reset();
      mem_pressure_cap_.reset();
      decide_locked("memory pressure over",
                    "no LS reclaim stall BE shares for " +
                        policy::human(cfg_.controller.memory_pressure_hold) +
                        ": the memory limit follows the colocatable amount again");
    }
    if (mem_pressure_until_ && mem_pressure_step_ && usage) {
      // Never below the 64 MiB every limit keeps (what BE holds under it
      // is left to the memory eviction watermark).
      const uint64_t step = std::max<uint64_t>(*usage / 8, 64ull << 20);
      const uint64_t cut = std::max<uint64_t>(*usage > step ? *usage - step : 0, 64ull << 20);
      const bool first = !mem_pressure_cap_;
      mem_pressure_cap_ = std::min(mem_pressure_cap_.value_or(cut), cut);
      decide_locked("memory limit towards " + std::to_string(*mem_pressure_cap_ >> 20) + " MiB",
                    (first ? "memory pressure: " : "memory pressure goes on: ") + mem_pressure_why_ +
                        "; BE holds " + std::to_string(*usage >> 20) + " MiB");
    }
    mem_pressure_step_ = false;
    if (mem_pressure_cap_) mem = std::min(mem, *mem_pressure_cap_);
    // Shrink gradually: at most 1/16 of what BE holds (and at least 64 MiB)
    // below its usage per tick, so the kernel reclaims cache and swaps instead
    // of OOM-killing the box (v2's memory.max) — eviction handles the rest.
    if (usage && mem < *usage) {
      const uint64_t step = std::max<uint64_t>(*usage / 16, 64ull << 20);
      mem = std::max<uint64_t>(mem, *usage > step ? *usage - step : 0);
    }
    mem = std::max<uint64_t>(mem, 64ull << 20);
    // The dynamic amount follows MemAvailable, which moves by a few pages at
    // every tick: a move under 1 MiB is not written (it was, ten times a
    // second, each write taking the memcg's limit lock for nothing).
    const auto moved = [](uint64_t a, uint64_t b) { return (a > b ? a - b : b - a) >= (1ull << 20); };
    if (!applied_.memory || moved(*applied_.memory, mem)) {
      if (box_.set_memory_limit(mem) == 0) applied_.memory = mem;
    }
  }
  evict_locked(now, meminfo);
  prev_tick_ = t;
}

void Controller::set_enabled(bool on, bool evict) {
  std::lock_guard<std::mutex> l(mu_);
  enabled_ = on;
  decide_locked(on ? "colocation enabled" : "colocation disabled",
                on ? "colo enable" : (evict ? "colo disable --evict" : "colo disable"));
  if (!on) {
    cpu_ctl_.adopt(0);  // enabling again grows from the floor, step by step
    apply_locked(BigBox::kFloorCores, "tick", 0);
    if (evict && pod_eviction_) {
      // Kubernetes mode: every BE pod, through the Eviction API.
      for (auto& c : pod_eviction_->candidates())
        if (pod_eviction_->evict(c.id, "disabled")) evictions_["disabled"]++;
    } else if (evict) {
      // pids come from the box's own cgroup.procs: BE tasks only.
      for (pid_t p : box_.tasks())
        if (kill(p, SIGTERM) == 0) evictions_["disabled"]++;
    }
  }
}

void Controller::enter_safe_state() {
  std::lock_guard<std::mutex> l(mu_);
  // The box keeps its memory limit (never unlimited) and drops to the CPU
  // floor: with no agent watching, LS must not wait for BE.
  double cores = std::max(BigBox::kFloorCores, cpu_ctl_.allowance() * cfg_.controller.floor);
  if (cfg_.cgroup.manage_bigbox && box_.set_cpu_quota(cores) == 0) applied_.quota = cores;
  decide_locked("safe state", "agent stopping: cpu quota " + std::to_string(cores) + " cores");
}

void Controller::reconfigure(const Config& cfg) {
  std::lock_guard<std::mutex> l(mu_);
  cfg_ = cfg;
  policy_.reconfigure(cfg.policy);
  cpu_ctl_.reconfigure(cfg.controller);
  eviction_.reconfigure(cfg.eviction);
}

void Controller::set_pod_eviction(PodEvictionHook* h) {
  std::lock_guard<std::mutex> l(mu_);
  pod_eviction_ = h;
}

void Controller::observe_ls_reclaim(double window_s,
                                    const std::map<std::string, LsReclaimStall>& ls) {
  std::lock_guard<std::mutex> l(mu_);
  // The levels above the box whose limit was hit since the last window.
  auto hits = box_.ancestor_limit_hits();
  std::vector<std::pair<std::string, uint64_t>> hit;
  if (limit_hits_)
    for (auto& [level, n] : hits)
      if (auto it = limit_hits_->find(level); it != limit_hits_->end() && n > it->second)
        hit.emplace_back(level, n - it->second);
  limit_hits_ = std::move(hits);
  if (!cfg_.cgroup.manage_bigbox || window_s <= 0) return;
  double direct = 0, shared = 0;
  std::string worst;
  double worst_s = 0;
  for (auto& [path, st] : ls) {
    double s = st.direct_s;
    for (auto& [level, n] : hit)
      if (path_is_within(path, level)) {
        s += st.memcg_s;
        break;
      }
    direct += st.direct_s;
    shared += s;
    if (s > worst_s) {
      worst_s = s;
      worst = path;
    }
  }
  if (shared <= 0 || shared < cfg_.controller.memory_pressure_stall * window_s) return;
  auto human_s = [](double s) {
    return policy::human(std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9)));
  };
  std::string why = "LS tasks stalled " + human_s(shared) + " in all in reclaim in the last " +
                    human_s(window_s) + " (most: " + worst + ")";
  if (direct > 0) why += ", " + human_s(direct) + " of it in global direct reclaim";
  for (auto& [level, n] : hit)
    why += "; " + level + " hit its memory limit " + std::to_string(n) + " times";
  mem_pressure_until_ = clock_.now_mono() + cfg_.controller.memory_pressure_hold;
  mem_pressure_why_ = why;
  mem_pressure_step_ = true;
}

void Controller::set_ls_latency_p99(std::optional<double> seconds) {
  std::lock_guard<std::mutex> l(mu_);
  ls_p99_ = seconds;
}

namespace {

// A task's resident memory and start time, from /proc; nullopt if it exited.
std::optional<policy::Candidate> candidate_of(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  auto status = read_file(base + "/status");
  auto stat = read_file(base + "/stat");
  if (!status || !stat) return std::nullopt;
  policy::Candidate c;
  c.id = std::to_string(pid);
  for (auto line : split(*status, '\n'))
    if (line.substr(0, 6) == "VmRSS:")
      c.memory_bytes = std::strtoull(std::string(line.substr(6)).c_str(), nullptr, 10) * 1024;
  // Field 22 (starttime, clock ticks since boot).
  auto fields = parse_proc_stat_fields(*stat);
  if (fields.size() > 19) {
    uint64_t ticks = std::strtoull(std::string(fields[19]).c_str(), nullptr, 10);
    c.started = policy::MonoTime(std::chrono::milliseconds(ticks * 1000 / sysconf(_SC_CLK_TCK)));
  }
  return c;
}

// Still a task of the box? (It may have exited and its pid been reused.)
bool in_box(const BigBox& box, pid_t pid) {
  auto t = box.tasks();
  return std::find(t.begin(), t.end(), pid) != t.end();
}

}  // namespace

void Controller::observe_be_cpu(double window_s, double run_s, double wait_s,
                                std::map<std::string, double> cores_by_cgroup) {
  std::lock_guard<std::mutex> l(mu_);
  be_cores_by_cgroup_.clear();
  for (auto& [path, cores] : cores_by_cgroup) {
    std::string p = path;
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    be_cores_by_cgroup_[p] = cores;
  }
  if (cfg_.cgroup.manage_bigbox) box_.set_oom_first();
  auto throttled = box_.cpu_throttled_ns();
  double throttled_s = 0;
  if (throttled && last_throttled_ns_ && *throttled >= *last_throttled_ns_)
    throttled_s = (*throttled - *last_throttled_ns_) * 1e-9;
  last_throttled_ns_ = throttled;
  be_cpu_cores_ = window_s > 0 ? run_s / window_s : 0;
  // Over the last few seconds, not one collection: waits are recorded when a
  // task gets the CPU and throttling when the quota refills, so a single short
  // window of a starved box often shows nothing at all.
  be_demand_.push_back({window_s, run_s, wait_s, throttled_s});
  double span = 0, run = 0, demand = 0;
  for (auto& o : be_demand_) span += o.window_s;
  while (be_demand_.size() > 1 && span - be_demand_.front().window_s >= kSatisfactionSpanS) {
    span -= be_demand_.front().window_s;
    be_demand_.pop_front();
  }
  for (auto& o : be_demand_) {
    run += o.run_s;
    demand += o.run_s + o.wait_s + o.throttled_s;
  }
  // Demand = what BE ran + what it waited for a CPU + what the quota held
  // back. Without demand (under 1% of a CPU) there is no satisfaction signal.
  if (span <= 0 || demand < 0.01 * span)
    be_satisfaction_.reset();
  else
    be_satisfaction_ = std::clamp(run / demand, 0.0, 1.0);
}

void Controller::evict_locked(policy::MonoTime now, std::pair<uint64_t, uint64_t> meminfo) {
  // Grace over: SIGKILL what ignored SIGTERM (only if it is still in the box).
  for (auto it = terminating_.begin(); it != terminating_.end();) {
    if (now < it->second) {
      ++it;
      continue;
    }
    if (in_box(box_, it->first) && !cfg_.eviction.dry_run) kill(it->first, SIGKILL);
    it = terminating_.erase(it);
  }
  for (auto it = terminating_jobs_.begin(); it != terminating_jobs_.end();) {
    if (now < it->second) {
      ++it;
      continue;
    }
    // The whole job at once (cgroup.kill), else each task still in it.
    if (!box_.kill_job(it->first))
      for (pid_t p : box_.job_tasks(it->first)) kill(p, SIGKILL);
    it = terminating_jobs_.erase(it);
  }
  if (!cfg_.eviction.enabled) return;
  policy::Pressures p;
  const auto [total, avail] = meminfo;
  if (total) {
    p.memory_used_fraction = static_cast<double>(total - std::min(total, avail)) / total;
    p.memory_total_bytes = total;
  }
  p.ls_latency_p99_seconds = ls_p99_;
  p.be_cpu_satisfaction = be_satisfaction_;
  p.be_cpu_cores = be_cpu_cores_;
  for (auto& d : cfg_.eviction.disks) {
    struct statvfs fs {};
    if (statvfs(d.path.c_str(), &fs) != 0 || fs.f_blocks == 0) continue;  // no signal
    policy::DiskUsage u;
    u.path = d.path;
    u.used_fraction = static_cast<double>(fs.f_blocks - std::min(fs.f_blocks, fs.f_bavail)) /
                      fs.f_blocks;
    u.capacity_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    p.disks.push_back(u);
  }
  // Candidates: each job cgroup of the box as a whole, then loose tasks;
  // listed only when the policy is to choose among them.
  auto list = [&] {
    if (pod_eviction_) return pod_eviction_->candidates();
    std::vector<policy::Candidate> cands;
    std::string box_rel = box_.rel_path_of("cpu");
    while (!box_rel.empty() && box_rel.front() == '/') box_rel.erase(0, 1);
    auto cores_under = [&](const std::string& rel, bool subtree) {
      double sum = 0;
      for (auto it = be_cores_by_cgroup_.lower_bound(rel); it != be_cores_by_cgroup_.end(); ++it) {
        if (it->first.compare(0, rel.size(), rel) != 0) break;
        if (it->first.size() == rel.size() || (subtree && it->first[rel.size()] == '/'))
          sum += it->second;
      }
      return sum;
    };
    for (auto& job : box_.jobs()) {
      if (terminating_jobs_.count(job)) continue;
      auto tasks = box_.job_tasks(job);
      if (tasks.empty()) continue;
      policy::Candidate c;
      c.id = "job:" + job;
      c.priority = box_.job_priority(job);
      uint64_t rss = 0;
      bool first = true;
      for (pid_t pid : tasks) {
        auto t = candidate_of(pid);
        if (!t) continue;
        rss += t->memory_bytes;
        c.started = first ? t->started : std::min(c.started, t->started);
        first = false;
      }
      c.memory_bytes = box_.job_memory_usage(job).value_or(rss);
      c.cpu_cores = cores_under(box_rel + "/" + job, true);
      cands.push_back(c);
    }
    // Loose tasks share what the box's own cgroup used.
    auto loose = box_.own_tasks();
    const double loose_cores = loose.empty() ? 0 : cores_under(box_rel, false) / loose.size();
    for (pid_t pid : loose)
      if (!terminating_.count(pid))
        if (auto c = candidate_of(pid)) {
          c->cpu_cores = loose_cores;
          cands.push_back(*c);
        }
    return cands;
  };
  auto d = eviction_.decide(p, list, now);
  for (auto& v : d.victims) {
    if (pod_eviction_) {
      decide_locked(std::string(d.dry_run ? "would evict" : "evict") + " BE pod " + v.id,
                    v.explanation);
      if (!d.dry_run && pod_eviction_->evict(v.id, policy::reason_name(v.reason)))
        evictions_[policy::reason_name(v.reason)]++;
      continue;
    }
    const bool job = v.id.rfind("job:", 0) == 0;
    decide_locked(std::string(d.dry_run ? "would evict" : "evict") + (job ? " BE " : " BE task ") +
                      v.id,
                  v.explanation);
    if (d.dry_run) continue;
    const auto kill_at = now + std::chrono::seconds(10);
    if (job) {
      const std::string name = v.id.substr(4);
      // pids from the job's own cgroup.procs: BE tasks only.
      for (pid_t pid : box_.job_tasks(name)) kill(pid, SIGTERM);
      evictions_[policy::reason_name(v.reason)]++;
      terminating_jobs_[name] = kill_at;
      continue;
    }
    pid_t pid = std::atoi(v.id.c_str());
    if (pid <= 0 || !in_box(box_, pid)) continue;
    if (kill(pid, SIGTERM) == 0) {
      evictions_[policy::reason_name(v.reason)]++;
      terminating_[pid] = kill_at;
    }
  }
  if (d.cooldown_until && !d.victims.empty()) cpu_ctl_.block_growth_until(*d.cooldown_until);
}

policy::Colocatable Controller::colocatable() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_colocatable_;
}

nlohmann::json Controller::status() const {
  std::lock_guard<std::mutex> l(mu_);
  nlohmann::json j;
  j["enabled"] = enabled_.load();
  j["managed"] = cfg_.cgroup.manage_bigbox;
  j["bigbox"] = {
      {"path", box_.rel_path()},
      {"cpu_quota_cores", applied_.quota ? nlohmann::json(*applied_.quota) : nlohmann::json()},
      {"cpuset", format_cpu_list(applied_.cpus)},
      {"memory_limit_bytes",
       applied_.memory ? nlohmann::json(*applied_.memory) : nlohmann::json()},
      {"tasks", box_.tasks().size()}};
  if (mem_pressure_until_)
    j["memory_pressure"] = {
        {"reason", mem_pressure_why_},
        {"memory_cap_bytes",
         mem_pressure_cap_ ? nlohmann::json(*mem_pressure_cap_) : nlohmann::json()}};
  j["colocatable"] = {{"cpu_cores", last_colocatable_.cpu_cores},
                      {"memory_bytes", last_colocatable_.memory_bytes},
                      {"mode", last_colocatable_.mode},
                      {"window", last_colocatable_.window_name},
                      {"level", last_colocatable_.level},
                      {"phase", policy::phase_name(last_colocatable_.phase)},
                      {"reason", last_colocatable_.reason}};
  j["decisions"] = nlohmann::json(std::vector<nlohmann::json>(decisions_.begin(), decisions_.end()));
  j["fast_path"] = {{"armed", fast_armed_}, {"samples", fast_samples_}, {"be_wakes", be_wakes_}};
  return j;
}

std::vector<MetricFamily> Controller::Collect() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<MetricFamily> out;
  out.push_back(gauge("colo_bigbox_cpu_quota_cores", "CPU quota of the big box, cores.",
                      applied_.quota.value_or(-1)));
  out.push_back(gauge("colo_bigbox_cpuset_cpus", "CPUs in the big box's cpuset.",
                      static_cast<double>(applied_.cpus.size())));
  out.push_back(gauge("colo_bigbox_memory_limit_bytes", "Memory limit of the big box.",
                      applied_.memory ? static_cast<double>(*applied_.memory) : -1));
  out.push_back(gauge("colo_node_colocatable_cpu_cores", "CPU BE may use on this node.",
                      last_colocatable_.cpu_cores));
  out.push_back(gauge("colo_node_colocatable_memory_bytes", "Memory BE may use on this node.",
                      static_cast<double>(last_colocatable_.memory_bytes)));
  out.push_back(gauge("colo_colocation_enabled", "1 when colocation is enabled on this node.",
                      enabled_ ? 1 : 0));
  MetricFamily ev;
  ev.name = "colo_evictions_total";
  ev.help = "BE evictions, by reason.";
  ev.type = MetricType::Counter;
  for (auto& [r, n] : evictions_) {
    ClientMetric m;
    m.label = {{"reason", r}};
    m.counter.value = n;
    ev.metric.push_back(m);
  }
  out.push_back(ev);
  MetricFamily we;
  we.name = "colo_bigbox_write_errors_total";
  we.help = "Failed writes to the big box's cgroup files, by file and errno name; the "
            "control loop keeps its last applied value and retries.";
  we.type = MetricType::Counter;
  for (auto& [key, n] : box_.write_errors()) {
    ClientMetric m;
    m.label = {{"file", key.first}, {"error", key.second}};
    m.counter.value = n;
    we.metric.push_back(m);
  }
  out.push_back(we);
  MetricFamily rh;
  rh.name = "colo_control_reaction_seconds";
  rh.help = "From the kernel seeing the signal to the cgroup write done.";
  rh.type = MetricType::Histogram;
  const auto& b = reaction_bounds();
  for (auto& [trigger, h] : reactions_) {
    ClientMetric m;
    m.label = {{"trigger", trigger}};
    m.histogram.sample_count = h.n;
    m.histogram.sample_sum = h.sum;
    for (size_t i = 0; i < b.size(); i++)
      m.histogram.bucket.push_back({h.counts.empty() ? 0 : h.counts[i], b[i]});
    m.histogram.bucket.push_back({h.n, std::numeric_limits<double>::infinity()});
    rh.metric.push_back(m);
  }
  out.push_back(rh);
  return out;
}

}  // namespace colo
