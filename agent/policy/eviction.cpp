#include "agent/policy/eviction.h"

#include <cmath>

#include "agent/policy/format.h"

namespace colo::policy {
namespace {

bool worse(double v, double level, bool low_worse) { return low_worse ? v <= level : v >= level; }

// One signal past its trigger, with what is needed to estimate and explain.
struct Active {
  EvictReason reason;
  const Watermark* mark;
  double value;
  bool low_worse;
  std::string name;          // "memory", "disk /var/lib/colo", …
  uint64_t capacity = 0;     // bytes, for memory and disk estimates
};

std::string show(const Active& a, double v) {
  return a.reason == EvictReason::LsLatency ? fmt("%.1fms", v * 1000) : fmt("%.3f", v);
}

double usage(EvictReason r, const Candidate& c) {
  switch (r) {
    case EvictReason::Memory: return static_cast<double>(c.memory_bytes);
    case EvictReason::Disk: return static_cast<double>(c.disk_bytes);
    default: return c.cpu_cores;
  }
}

// Lowest priority first, then the largest user of the resource under
// pressure (fewest evictions for the relief), then the youngest (least work
// lost), then the id so that equal candidates are ordered the same every time.
bool evict_before(EvictReason r, const Candidate& a, const Candidate& b) {
  if (a.priority != b.priority) return a.priority < b.priority;
  if (usage(r, a) != usage(r, b)) return usage(r, a) > usage(r, b);
  if (a.started != b.started) return a.started > b.started;
  return a.id < b.id;
}

// The signal once `c` is gone, by subtracting its usage. Latency has no
// usage to subtract, nor has a disk whose size or per-task use is unknown:
// those become unknown, and no more victims are chosen for them this time.
struct Estimate {
  double value;
  double be_cpu;  // BE CPU still running, for the satisfaction estimate
  bool known = true;
};
void apply(const Active& a, const Candidate& c, Estimate* e) {
  switch (a.reason) {
    case EvictReason::Memory:
      if (a.capacity) e->value -= static_cast<double>(c.memory_bytes) / a.capacity;
      else e->known = false;
      break;
    case EvictReason::Disk:
      if (a.capacity && c.disk_bytes) e->value -= static_cast<double>(c.disk_bytes) / a.capacity;
      else e->known = false;
      break;
    case EvictReason::LsLatency:
      e->known = false;
      break;
    case EvictReason::CpuSatisfaction:
      // The CPU BE gets stays; the demand falls by the victim's share (its use
      // over the satisfaction), so satisfaction rises by U / (U - use).
      if (e->be_cpu <= 0) e->known = false;
      else if (c.cpu_cores >= e->be_cpu) e->value = 1, e->be_cpu = 0;
      else e->value *= e->be_cpu / (e->be_cpu - c.cpu_cores), e->be_cpu -= c.cpu_cores;
      break;
  }
}

}  // namespace

const char* reason_name(EvictReason r) {
  switch (r) {
    case EvictReason::Memory: return "memory";
    case EvictReason::CpuSatisfaction: return "cpu_satisfaction";
    case EvictReason::LsLatency: return "ls_latency";
    case EvictReason::Disk: return "disk";
  }
  return "memory";
}

const std::vector<EvictReason>& all_reasons() {
  static const std::vector<EvictReason> all = {EvictReason::Memory, EvictReason::CpuSatisfaction,
                                               EvictReason::LsLatency, EvictReason::Disk};
  return all;
}

std::optional<MonoTime> EvictionPolicy::cooldown_until(MonoTime now) const {
  if (cooldown_until_ && now < *cooldown_until_) return cooldown_until_;
  return std::nullopt;
}

bool EvictionPolicy::track(SignalState& st, const Watermark& w, std::optional<double> value,
                           bool low_worse, MonoTime now) {
  if (!w.enabled || !value || !std::isfinite(*value)) {
    st = {};
    return false;
  }
  if (worse(*value, w.trigger, low_worse)) {
    if (!st.beyond_since) st.beyond_since = now;
    if (now - *st.beyond_since >= w.sustain) st.active = true;
  } else {
    st.beyond_since.reset();
  }
  if (st.active && !worse(*value, w.release, low_worse)) st.active = false;
  return st.active;
}

EvictionDecision EvictionPolicy::decide(const Pressures& p,
                                        const std::vector<Candidate>& candidates, MonoTime now) {
  return decide(p, [&] { return candidates; }, now);
}

EvictionDecision EvictionPolicy::decide(
    const Pressures& p, const std::function<std::vector<Candidate>()>& list_candidates,
    MonoTime now) {
  EvictionDecision d;
  d.dry_run = cfg_.dry_run;
  while (!recent_.empty() && recent_.front() <= now - cfg_.burst_window) recent_.pop_front();
  d.cooldown_until = cooldown_until(now);
  d.evictions_in_window = static_cast<int>(recent_.size());
  if (!cfg_.enabled) {
    d.summary = "eviction disabled";
    return d;
  }

  // Every signal is tracked on every call, so sustain timers and release
  // levels stay right through cooldowns. Order = order of urgency: memory
  // (OOM is near), disk, LS latency, BE CPU satisfaction.
  std::vector<Active> active;
  if (track(memory_, cfg_.memory, p.memory_used_fraction, false, now))
    active.push_back({EvictReason::Memory, &cfg_.memory, *p.memory_used_fraction, false, "memory",
                      p.memory_total_bytes});
  for (const auto& dw : cfg_.disks) {
    const DiskUsage* u = nullptr;
    for (const auto& du : p.disks)
      if (du.path == dw.path) u = &du;
    if (track(disks_[dw.path], dw.mark, u ? std::optional(u->used_fraction) : std::nullopt, false,
              now))
      active.push_back({EvictReason::Disk, &dw.mark, u->used_fraction, false, "disk " + dw.path,
                        u->capacity_bytes});
  }
  if (track(latency_, cfg_.ls_latency, p.ls_latency_p99_seconds, false, now))
    active.push_back({EvictReason::LsLatency, &cfg_.ls_latency, *p.ls_latency_p99_seconds, false,
                      "LS latency p99"});
  if (track(cpu_, cfg_.cpu_satisfaction, p.be_cpu_satisfaction, true, now))
    active.push_back({EvictReason::CpuSatisfaction, &cfg_.cpu_satisfaction,
                      *p.be_cpu_satisfaction, true, "BE CPU satisfaction"});

  if (active.empty()) {
    d.summary = "no pressure";
    return d;
  }
  std::string pressure;
  for (const auto& a : active)
    pressure += (pressure.empty() ? "" : ", ") + a.name + " " + show(a, a.value) +
                (a.low_worse ? " <= " : " >= ") + show(a, a.mark->trigger);
  if (d.cooldown_until) {
    d.summary = pressure + "; in cooldown for " + human(*d.cooldown_until - now);
    return d;
  }
  int budget = cfg_.burst_limit - d.evictions_in_window;
  if (budget <= 0) {
    d.summary = pressure + fmt("; burst limit of %d per %s reached", cfg_.burst_limit,
                               human(cfg_.burst_window).c_str());
    return d;
  }

  const std::vector<Candidate> candidates = list_candidates();
  std::vector<const Candidate*> chosen;
  std::vector<bool> taken(candidates.size());
  for (const auto& a : active) {
    Estimate e{a.value, p.be_cpu_cores};
    for (const Candidate* c : chosen) apply(a, *c, &e);  // relief from earlier victims
    while (budget > 0 && e.known && worse(e.value, a.mark->release, a.low_worse)) {
      int best = -1;
      for (size_t i = 0; i < candidates.size(); i++)
        if (!taken[i] && (best < 0 || evict_before(a.reason, candidates[i], candidates[best])))
          best = static_cast<int>(i);
      if (best < 0) break;
      const Candidate& c = candidates[best];
      taken[best] = true;
      chosen.push_back(&c);
      budget--;
      const double before = e.value;
      apply(a, c, &e);
      std::string after = e.known ? "estimate " + show(a, before) + " -> " + show(a, e.value)
                                  : "effect not estimable, one at a time";
      d.victims.push_back(
          {c.id, a.reason,
           fmt("%s %s %s trigger %s (release %s): priority %d, memory %s, cpu %.2f cores; %s",
               a.name.c_str(), show(a, a.value).c_str(), a.low_worse ? "<=" : ">=",
               show(a, a.mark->trigger).c_str(), show(a, a.mark->release).c_str(), c.priority,
               gib(static_cast<double>(c.memory_bytes)).c_str(), c.cpu_cores, after.c_str())});
    }
  }
  if (d.victims.empty()) {
    d.summary = pressure + "; no BE task to evict";
    return d;
  }
  if (cfg_.cooldown > Duration(0)) cooldown_until_ = now + cfg_.cooldown;
  for (size_t i = 0; i < d.victims.size(); i++) recent_.push_back(now);
  d.cooldown_until = cooldown_until(now);
  d.evictions_in_window = static_cast<int>(recent_.size());
  d.summary = fmt("%s %zu for %s", cfg_.dry_run ? "dry run: would evict" : "evict",
                  d.victims.size(), pressure.c_str());
  return d;
}

}  // namespace colo::policy
