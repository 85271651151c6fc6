#include "agent/policy/colocatable.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "agent/policy/format.h"

namespace colo::policy {
namespace {

constexpr int kWeekMinutes = 7 * 1440;
constexpr double kEps = 1e-9;
// Bounds the peak-window memory when samples come much faster than expected.
constexpr size_t kMaxRecent = 10000;

bool usable(const NodeSample& s) {
  const double v[] = {s.capacity_cpu_cores, s.ls_cpu_cores, s.system_cpu_cores, s.be_cpu_cores};
  for (double x : v)
    if (!std::isfinite(x) || x < 0) return false;
  return s.capacity_cpu_cores > 0 && s.capacity_memory_bytes > 0;
}

int mod(long long a, long long m) { return static_cast<int>(((a % m) + m) % m); }

struct Drop {
  double level;
  int window;
  long long seconds_ahead;
};

// The first window edge within `horizon_s` after `now_s` (second of the week)
// at which the level falls below `current`. The level only changes at edges,
// so checking them is exact.
std::optional<Drop> next_drop(const PolicyConfig& cfg, int now_s, double current,
                              long long horizon_s) {
  std::optional<Drop> best;
  for (const auto& w : cfg.windows)
    for (int d = 0; d < 7; d++) {
      if (!(w.days & (1 << d))) continue;
      int start = d * 1440 + w.start_minute;
      for (int edge : {start, start + w.length_minutes()}) {
        int m = mod(edge, kWeekMinutes);
        long long ahead = mod(static_cast<long long>(m) * 60 - now_s, kWeekMinutes * 60LL);
        if (ahead == 0 || ahead > horizon_s || (best && ahead >= best->seconds_ahead)) continue;
        LevelAt l = level_at(cfg, m);
        if (l.fraction < current - kEps) best = Drop{l.fraction, l.window, ahead};
      }
    }
  return best;
}

std::string window_label(const PolicyConfig& cfg, int window) {
  return window >= 0 ? "window '" + cfg.windows[window].name + "'" : "outside windows";
}

}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Normal: return "normal";
    case Phase::Frozen: return "frozen";
    case Phase::Grace: return "grace";
    case Phase::Stale: return "stale";
    case Phase::Off: return "off";
  }
  return "stale";
}

LevelAt level_at(const PolicyConfig& cfg, int minute_of_week) {
  LevelAt out{cfg.default_level.fraction, -1};
  for (size_t i = 0; i < cfg.windows.size(); i++) {
    const TimeWindow& w = cfg.windows[i];
    bool active = false;
    for (int d = 0; d < 7 && !active; d++)
      active = (w.days & (1 << d)) &&
               mod(minute_of_week - (d * 1440 + w.start_minute), kWeekMinutes) < w.length_minutes();
    // Inside any window the default no longer applies; among windows the
    // most restrictive wins (the first one on a tie).
    if (active && (out.window < 0 || w.level.fraction < out.fraction - kEps))
      out = {w.level.fraction, static_cast<int>(i)};
  }
  return out;
}

ColocatablePolicy::ColocatablePolicy(PolicyConfig cfg) : cfg_(std::move(cfg)) {}

void ColocatablePolicy::reconfigure(PolicyConfig cfg) { cfg_ = std::move(cfg); }

void ColocatablePolicy::seed(std::optional<double> cpu_cores,
                             std::optional<double> memory_bytes) {
  if (last_) return;
  if (cpu_cores && std::isfinite(*cpu_cores) && *cpu_cores >= 0) smoothed_.cpu = *cpu_cores;
  if (memory_bytes && std::isfinite(*memory_bytes) && *memory_bytes >= 0)
    smoothed_.mem = *memory_bytes;
}

void ColocatablePolicy::observe(const NodeSample& s) {
  if (!usable(s) || (last_ && s.at < last_->at)) return;
  last_ = s;
  recent_.push_back(s);
  while (recent_.size() > kMaxRecent ||
         (recent_.size() > 1 && recent_.front().at < s.at - cfg_.peak_window))
    recent_.pop_front();
}

// The hold of the peak, adapted to how LS behaves after the last release: LS
// back to at least half of what was let go within twice the hold means it
// recurs (bursts with short gaps): hold twice as long, up to peak_window, so
// the box stays closed between bursts. No return within that time: the burst
// was a one-off; halve the hold, down to min_peak_window, so the box reopens
// soon after the next one (the fast path covers LS if it returns anyway).
// Only releases of at least half the range the amount moves in (capacity x
// watermark - reserve) teach the hold: smaller swings saw the box by less,
// and LS background noise (a few tenths of a core on any host) would
// otherwise read as recurring bursts and keep the box closed for seconds
// after every real one.
Duration ColocatablePolicy::adapt_hold(MonoTime now, const NodeSample& newest) {
  const Duration max_hold = std::max(cfg_.peak_window, Duration(0));
  const Duration min_hold = std::min(std::max(cfg_.min_peak_window, Duration(0)), max_hold);
  hold_ = std::clamp(hold_ == Duration(0) ? min_hold : hold_, min_hold, max_hold);
  if (!released_at_) return hold_;
  const Duration since = now - *released_at_;
  const double back = newest.ls_cpu_cores + newest.system_cpu_cores;
  const double range = newest.capacity_cpu_cores * cfg_.cpu_watermark - cfg_.reserve_cpu_cores;
  const bool teaches = released_from_ - released_to_ >= 0.5 * range;
  const Duration was = hold_;
  if (since <= 2 * hold_ && back >= released_to_ + 0.5 * (released_from_ - released_to_)) {
    if (teaches) hold_ = std::min(2 * hold_, max_hold);
    released_at_.reset();
    if (hold_ != was)
      hold_change_why_ = fmt("LS and system came back to %.2f cores %s after falling from %.2f "
                             "to %.2f: bursts recur",
                             back, human(since).c_str(), released_from_, released_to_);
  } else if (since > 2 * hold_) {
    if (teaches) hold_ = std::max(hold_ / 2, min_hold);
    released_at_.reset();
    if (hold_ != was)
      hold_change_why_ = fmt("LS and system did not come back half way to %.2f cores within %s: "
                             "a one-off",
                             released_from_, human(since).c_str());
  }
  if (hold_ != was) hold_change_ = human(was) + " -> " + human(hold_);
  return hold_;
}

ColocatablePolicy::Amount ColocatablePolicy::base_amount(MonoTime now, std::string* why) {
  const NodeSample& s = *last_;
  const double cpu_cap = s.capacity_cpu_cores * cfg_.cpu_watermark;
  const double mem_cap = static_cast<double>(s.capacity_memory_bytes) * cfg_.memory_watermark;
  if (cfg_.mode == Mode::Static) {
    Amount a{std::min(cfg_.static_cpu_cores, cpu_cap),
             std::min(static_cast<double>(cfg_.static_memory_bytes), mem_cap)};
    *why = "static: " + fmt("%.2f cores, %s", a.cpu, gib(a.mem).c_str());
    if (a.cpu < cfg_.static_cpu_cores || a.mem < static_cast<double>(cfg_.static_memory_bytes))
      *why += fmt(" (capped at %.2f cores, %s by the watermarks)", cpu_cap, gib(mem_cap).c_str());
    return a;
  }
  // Dynamic. Peak use over the hold: a burst lowers the amount at once and
  // keeps it low while held, so use that alternates between busy and quiet
  // samples does not make the amount (and the box) saw up and down.
  while (recent_.size() > 1 && recent_.front().at < now - cfg_.peak_window) recent_.pop_front();
  const Duration hold = adapt_hold(now, s);
  double ls_cpu = 0, sys_cpu = 0, ls_mem = 0, sys_mem = 0;
  for (const auto& r : recent_) {
    if (r.at < now - hold && &r != &recent_.back()) continue;
    ls_cpu = std::max(ls_cpu, r.ls_cpu_cores);
    sys_cpu = std::max(sys_cpu, r.system_cpu_cores);
    ls_mem = std::max(ls_mem, static_cast<double>(r.ls_memory_bytes));
    sys_mem = std::max(sys_mem, static_cast<double>(r.system_memory_bytes));
  }
  // A fall of the held peak by more than noise is a release: if LS comes back
  // soon, the next update's adapt_hold() lengthens the hold.
  const double demand = ls_cpu + sys_cpu;
  const double noise = std::max(0.05, 0.05 * s.capacity_cpu_cores);
  if (held_demand_ >= 0 && demand < held_demand_ - noise) {
    if (!released_at_) {
      released_at_ = now;
      released_from_ = held_demand_;
    }
    released_to_ = demand;
  }
  held_demand_ = demand;
  const double res_cpu = std::max(cfg_.reserve_cpu_cores, sys_cpu);
  const double res_mem = std::max(static_cast<double>(cfg_.reserve_memory_bytes), sys_mem);
  Amount raw{std::max(0.0, cpu_cap - ls_cpu - res_cpu), std::max(0.0, mem_cap - ls_mem - res_mem)};
  // Falls at once (LS needs the resources now; any lag here is interference),
  // rises as an EWMA with a time-based factor so irregular update intervals
  // give the same curve: a recovery is trusted only once it has lasted.
  double dt = last_update_ ? std::chrono::duration<double>(now - *last_update_).count() : 0;
  double tau = std::chrono::duration<double>(cfg_.grow_time_constant).count();
  double alpha = tau > 0 ? 1 - std::exp(-std::max(0.0, dt) / tau) : 1.0;
  auto smooth = [&](double& cur, double target) {
    cur = target < cur ? target : cur + (target - cur) * alpha;
  };
  smooth(smoothed_.cpu, raw.cpu);
  smooth(smoothed_.mem, raw.mem);
  *why = fmt("dynamic: cpu %.2f x %.2f - LS %.2f - system %.2f%s = %.2f cores",
             s.capacity_cpu_cores, cfg_.cpu_watermark, ls_cpu, res_cpu,
             sys_cpu < res_cpu ? " (reserve)" : "", raw.cpu);
  *why += fmt(" (peaks of the last %s)", human(hold).c_str());
  if (smoothed_.cpu < raw.cpu - 0.005) *why += fmt(" (rising: %.2f)", smoothed_.cpu);
  *why += fmt("; memory %s x %.2f - LS %s - system %s%s = %s",
              gib(static_cast<double>(s.capacity_memory_bytes)).c_str(), cfg_.memory_watermark,
              gib(ls_mem).c_str(), gib(res_mem).c_str(), sys_mem < res_mem ? " (reserve)" : "",
              gib(raw.mem).c_str());
  if (smoothed_.mem < raw.mem - 1) *why += " (rising: " + gib(smoothed_.mem) + ")";
  return smoothed_;
}

std::optional<double> ColocatablePolicy::cpu_if_used(double ls_cores, double system_cores) const {
  if (cfg_.mode != Mode::Dynamic || !last_ || !prev_level_) return std::nullopt;
  const double cap = last_->capacity_cpu_cores * cfg_.cpu_watermark;
  const double res = std::max(cfg_.reserve_cpu_cores, std::max(system_cores, 0.0));
  return std::max(0.0, cap - std::max(ls_cores, 0.0) - res) * *prev_level_;
}

Colocatable ColocatablePolicy::update(MonoTime now, WallTime wall) {
  Colocatable out;
  out.mode = mode_name(cfg_.mode);
  const LocalTime lt = local_time(wall, cfg_.utc_offset_minutes);
  const LevelAt lvl = level_at(cfg_, lt.weekday * 1440 + lt.minute_of_day);
  out.level = lvl.fraction;
  out.window = lvl.window;
  if (lvl.window >= 0) out.window_name = cfg_.windows[lvl.window].name;
  const std::string where =
      cfg_.windows.empty() && lvl.fraction == 1.0
          ? ""
          : fmt("; %s: level %.2f", window_label(cfg_, lvl.window).c_str(), lvl.fraction);

  auto finish = [&](Amount a, Phase phase, std::string reason) {
    out.cpu_cores = a.cpu;
    out.memory_bytes = static_cast<uint64_t>(a.mem);
    out.phase = phase;
    out.reason = std::move(reason);
    prev_out_ = a;
    prev_level_ = lvl.fraction;
    last_update_ = now;
    out.hold_change = std::move(hold_change_);
    out.hold_change_why = std::move(hold_change_why_);
    hold_change_.clear();
    hold_change_why_.clear();
    return out;
  };

  if (cfg_.mode == Mode::Off) {
    grace_.reset();
    return finish({}, Phase::Off, "off: policy.mode is off");
  }
  if (last_) {
    out.be_cpu_cores = last_->be_cpu_cores;
    out.be_memory_bytes = last_->be_memory_bytes;
  }
  const Duration age = last_ ? std::max(Duration(0), now - last_->at) : Duration(0);
  if (!last_ || age > cfg_.stale_after) {
    // Blind: BE gets nothing, and regains its share only as slowly as after
    // an LS burst once samples are back. Before the first sample an adopted
    // box's seed stays (the controller keeps the box as it is until then).
    if (last_) smoothed_ = {};
    grace_.reset();
    return finish({}, Phase::Stale,
                  last_ ? "stale: no node sample for " + human(age) + " (stale_after " +
                              human(cfg_.stale_after) + ")"
                        : "stale: no node sample yet");
  }

  std::string why;
  const Amount base = base_amount(now, &why);
  const Amount windowed{base.cpu * lvl.fraction, base.mem * lvl.fraction};
  Amount a = windowed;
  Phase phase = Phase::Normal;

  // Grace: the level fell (a window opened or closed). Shrink linearly from
  // what BE had to the new amount, never growing meanwhile, never below the
  // new amount and never above what the policy allows now.
  if (prev_level_ && lvl.fraction < *prev_level_ - kEps && prev_out_ &&
      cfg_.grace_period > Duration(0))
    grace_ = Grace{now, *prev_out_, lvl.fraction};
  else if (grace_ && lvl.fraction > grace_->level + kEps)
    grace_.reset();
  if (grace_) {
    double p = std::chrono::duration<double>(now - grace_->start) /
               std::chrono::duration<double>(cfg_.grace_period);
    if (p >= 1) {
      grace_.reset();
    } else {
      auto ramp = [&](double from, double to, double limit, double prev) {
        return std::max(to, std::min({from + (to - from) * std::max(0.0, p), limit, prev}));
      };
      a.cpu = ramp(grace_->from.cpu, windowed.cpu, base.cpu, prev_out_->cpu);
      a.mem = ramp(grace_->from.mem, windowed.mem, base.mem, prev_out_->mem);
      phase = Phase::Grace;
      why += fmt("; grace: %.0f%% of the way from %.2f to %.2f cores", 100 * std::max(0.0, p),
                 grace_->from.cpu, windowed.cpu);
    }
  }

  // Frozen: the level falls soon. Whatever starts now would only have to be
  // taken back, so the amount does not grow until then.
  if (cfg_.stop_growing_before > Duration(0)) {
    long long horizon =
        std::chrono::duration_cast<std::chrono::seconds>(cfg_.stop_growing_before).count();
    if (auto drop = next_drop(cfg_, lt.second_of_week(), lvl.fraction, horizon)) {
      Amount cap = prev_out_.value_or(Amount{});
      a.cpu = std::min(a.cpu, cap.cpu);
      a.mem = std::min(a.mem, cap.mem);
      if (phase == Phase::Normal) phase = Phase::Frozen;
      why += fmt("; level falls to %.2f (%s) in %s: not growing", drop->level,
                 window_label(cfg_, drop->window).c_str(),
                 human(std::chrono::seconds(drop->seconds_ahead)).c_str());
    }
  }
  if (phase == Phase::Normal && lvl.fraction <= 0) phase = Phase::Off;
  return finish(a, phase, why + where);
}

}  // namespace colo::policy
