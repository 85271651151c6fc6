#include "agent/policy/policy_config.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "agent/config_parser.h"

namespace colo::policy {
namespace {

using H = ConfigParser::Handler;
using N = const YAML::Node&;  // handler arguments: the value node and its field name
using F = const std::string&;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

bool number(ConfigParser& p, const YAML::Node& n, const std::string& f, double* out) {
  if (!n.IsScalar()) {
    p.error(n, f, "expected a number");
    return false;
  }
  const std::string& s = n.Scalar();
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    p.error(n, f, "expected a number, got '" + s + "'");
    return false;
  }
  *out = v;
  return true;
}

// A number in [lo, hi], or (lo, hi] when lo_open.
bool ranged(ConfigParser& p, const YAML::Node& n, const std::string& f, double lo, bool lo_open,
            double hi, double* out) {
  double v;
  if (!number(p, n, f, &v)) return false;
  if ((lo_open ? v <= lo : v < lo) || v > hi) {
    p.error(n, f, "must be in " + std::string(lo_open ? "(" : "[") + num(lo) + ", " + num(hi) +
                      "], got " + n.Scalar());
    return false;
  }
  *out = v;
  return true;
}

bool dur(ConfigParser& p, const YAML::Node& n, const std::string& f, Duration lo, Duration hi,
         Duration* out) {
  uint64_t ns;
  if (!p.duration(n, f, lo.count(), hi.count(), &ns)) return false;
  *out = Duration(ns);
  return true;
}

// "4Gi", "512Mi", "2G", "1000000": bytes. Binary suffixes as in Kubernetes.
bool bytes(ConfigParser& p, const YAML::Node& n, const std::string& f, uint64_t* out) {
  static const std::pair<const char*, uint64_t> units[] = {
      {"", 1},          {"k", 1000},         {"K", 1000},         {"M", 1000'000},
      {"G", 1000'000'000}, {"T", 1000'000'000'000}, {"Ki", 1ull << 10}, {"Mi", 1ull << 20},
      {"Gi", 1ull << 30}, {"Ti", 1ull << 40}};
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (n.IsScalar() && ec == std::errc()) {
    std::string unit(end, s.data() + s.size());
    for (auto& [name, mult] : units)
      if (unit == name) {
        if (v > UINT64_MAX / mult) break;
        *out = v * mult;
        return true;
      }
  }
  p.error(n, f, "expected a size such as 512Mi, 4Gi or a number of bytes, got '" + s + "'");
  return false;
}

// "HH:MM" -> minute of day; "24:00" only where an end is meant.
bool hhmm(ConfigParser& p, const YAML::Node& n, const std::string& f, bool is_end, int* out) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  int h = -1, m = -1;
  auto digit = [&](size_t i) { return s[i] >= '0' && s[i] <= '9'; };
  if (s.size() == 5 && s[2] == ':' && digit(0) && digit(1) && digit(3) && digit(4)) {
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
  }
  if (m >= 0 && m < 60 && (h < 24 || (is_end && h == 24 && m == 0))) {
    *out = h * 60 + m;
    return true;
  }
  p.error(n, f, std::string("expected a time HH:MM (00:00..") + (is_end ? "24:00" : "23:59") +
                    "), got '" + s + "'");
  return false;
}

bool days(ConfigParser& p, const YAML::Node& n, const std::string& f, uint8_t* out) {
  static const std::pair<const char*, uint8_t> names[] = {
      {"mon", 1}, {"tue", 2}, {"wed", 4}, {"thu", 8}, {"fri", 16}, {"sat", 32}, {"sun", 64},
      {"weekdays", 31}, {"weekends", 96}, {"all", 127}};
  std::vector<YAML::Node> items;
  if (n.IsScalar()) items.push_back(n);
  else if (n.IsSequence() && n.size() > 0)
    for (size_t i = 0; i < n.size(); i++) items.push_back(n[i]);
  else {
    p.error(n, f, "expected a non-empty list of days (mon..sun, weekdays, weekends, all)");
    return false;
  }
  uint8_t mask = 0;
  bool ok = true;
  for (auto& item : items) {
    std::string s = item.IsScalar() ? item.Scalar() : "";
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    uint8_t bit = 0;
    for (auto& [name, b] : names)
      if (s == name) bit = b;
    if (!bit) {
      p.error(item, f, "unknown day '" + s + "' (expected mon..sun, weekdays, weekends, all)");
      ok = false;
    }
    mask |= bit;
  }
  if (ok) *out = mask;
  return ok;
}

bool level(ConfigParser& p, const YAML::Node& n, const std::string& f, Level* out) {
  std::string s;
  if (!p.str(n, f, &s)) return false;
  if (s == "on") *out = Level::On;
  else if (s == "off") *out = Level::Off;
  else if (s == "reduced") *out = Level::Reduced;
  else {
    p.error(n, f, "expected on, off or reduced; got '" + s + "'");
    return false;
  }
  return true;
}

// A level key and its optional fraction key, checked together: reduced needs
// a fraction, on and off must not have one. False if a problem was reported.
bool finish_level(ConfigParser& p, const YAML::Node& level_node, const std::string& level_field,
                  const std::optional<YAML::Node>& fraction_node, const std::string& fraction_field,
                  std::optional<Level> lvl, std::optional<double> fraction, LevelSpec* out) {
  if (!lvl) return true;
  if (*lvl == Level::Reduced && !fraction) {
    // A fraction that is present but invalid has been reported already.
    if (!fraction_node) p.error(level_node, level_field, "level reduced needs " + fraction_field);
    return false;
  }
  if (*lvl != Level::Reduced && fraction) {
    p.error(*fraction_node, fraction_field, "only meaningful with level reduced");
    return false;
  }
  out->level = *lvl;
  out->fraction = *lvl == Level::On ? 1.0 : *lvl == Level::Off ? 0.0 : *fraction;
  return true;
}

TimeWindow parse_window(ConfigParser& p, const YAML::Node& n, const std::string& f, size_t index,
                        bool* ok) {
  TimeWindow w;
  w.name = "window[" + std::to_string(index) + "]";
  std::optional<int> start, end;
  std::optional<Level> lvl;
  std::optional<double> fraction;
  // Where each key was, for errors that involve two keys (a default-constructed
  // YAML::Node would claim to be defined, hence optional).
  std::optional<YAML::Node> level_node, fraction_node, end_node;
  bool good = true;
  p.section(n, f, {
    {"name", H([&](N v, F ff) {
       std::string s;
       if (!p.str(v, ff, &s)) good = false;
       else if (s.empty()) good = false, p.error(v, ff, "must not be empty");
       else w.name = s;
     })},
    {"days", H([&](N v, F ff) { good &= days(p, v, ff, &w.days); })},
    {"start", H([&](N v, F ff) {
       int m;
       if (hhmm(p, v, ff, false, &m)) start = m; else good = false;
     })},
    {"end", H([&](N v, F ff) {
       int m;
       end_node = v;
       if (hhmm(p, v, ff, true, &m)) end = m; else good = false;
     })},
    {"level", H([&](N v, F ff) {
       Level l;
       level_node = v;
       if (level(p, v, ff, &l)) lvl = l; else good = false;
     })},
    {"fraction", H([&](N v, F ff) {
       double x;
       fraction_node = v;
       if (ranged(p, v, ff, 0, false, 1, &x)) fraction = x; else good = false;
     })},
  });
  if (!n.IsMap()) {
    *ok = false;
    return w;
  }
  for (const char* key : {"start", "end", "level"})
    if (!n[key]) {
      p.error(n, f + "." + key, "missing");
      good = false;
    }
  if (start && end && *start == *end) {
    p.error(*end_node, f + ".end",
            "equals start; a window needs a length (00:00 to 24:00 is a whole day)");
    good = false;
  }
  if (start) w.start_minute = *start;
  if (end) w.end_minute = *end;
  if (lvl)
    good &= finish_level(p, *level_node, f + ".level", fraction_node, f + ".fraction", lvl,
                         fraction, &w.level);
  *ok = good;
  return w;
}

enum class MarkKind { HighFraction, LowFraction, Latency };

void parse_watermark(ConfigParser& p, const YAML::Node& n, const std::string& f, MarkKind kind,
                     Watermark* out, std::string* path = nullptr) {
  Watermark w = *out;
  std::optional<YAML::Node> trigger_node, release_node;
  auto value = [&](N v, F ff, double* x) {
    if (kind != MarkKind::Latency) return ranged(p, v, ff, 0, true, 1, x);
    Duration d;
    if (!dur(p, v, ff, Duration(1000), Duration(seconds(60)), &d)) return false;
    *x = std::chrono::duration<double>(d).count();
    return true;
  };
  std::map<std::string, H> handlers = {
    {"enabled", H([&](N v, F ff) { p.boolean(v, ff, &w.enabled); })},
    {"trigger", H([&](N v, F ff) {
       trigger_node = v;
       value(v, ff, &w.trigger);
     })},
    {"release", H([&](N v, F ff) {
       release_node = v;
       value(v, ff, &w.release);
     })},
    {"sustain", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(hours(1)), &w.sustain);
     })},
  };
  if (path)
    handlers["path"] = H([&](N v, F ff) {
      if (p.str(v, ff, path) && (path->empty() || (*path)[0] != '/'))
        p.error(v, ff, "expected an absolute path");
    });
  p.section(n, f, handlers);
  bool low_worse = kind == MarkKind::LowFraction;
  if (low_worse ? w.release < w.trigger : w.release > w.trigger) {
    bool at_release = release_node.has_value();
    const YAML::Node& where = at_release ? *release_node : trigger_node ? *trigger_node : n;
    std::string msg = "release " + num(w.release) +
                      (low_worse ? " must not be below" : " must not be above") + " trigger " +
                      num(w.trigger);
    p.error(where, f + (at_release ? ".release" : ".trigger"), msg);
    return;
  }
  *out = w;
}

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Dynamic: return "dynamic";
    case Mode::Static: return "static";
    case Mode::Off: return "off";
  }
  return "off";
}

const char* level_name(Level l) {
  switch (l) {
    case Level::On: return "on";
    case Level::Reduced: return "reduced";
    case Level::Off: return "off";
  }
  return "off";
}

void parse_policy_section(const YAML::Node& node, const std::string& field, ConfigParser& p,
                          PolicyConfig* out) {
  PolicyConfig& c = *out;
  std::optional<YAML::Node> mode_node, level_node, fraction_node;
  std::optional<Level> default_level;
  std::optional<double> default_fraction;
  auto cores = [&](N v, F ff, double* x) {
    ranged(p, v, ff, 0, false, 1e6, x);
  };
  p.section(node, field, {
    {"mode", H([&](N v, F ff) {
       std::string s;
       mode_node = v;
       if (!p.str(v, ff, &s)) return;
       if (s == "dynamic") c.mode = Mode::Dynamic;
       else if (s == "static") c.mode = Mode::Static;
       else if (s == "off") c.mode = Mode::Off;
       else p.error(v, ff, "expected dynamic, static or off; got '" + s + "'");
     })},
    {"cpu_watermark", H([&](N v, F ff) {
       ranged(p, v, ff, 0, true, 1, &c.cpu_watermark);
     })},
    {"memory_watermark", H([&](N v, F ff) {
       ranged(p, v, ff, 0, true, 1, &c.memory_watermark);
     })},
    {"system_reserve", H([&](N n, F f) {
       p.section(n, f, {
         {"cpu_cores", H([&](N v, F ff) { cores(v, ff, &c.reserve_cpu_cores); })},
         {"memory", H([&](N v, F ff) { bytes(p, v, ff, &c.reserve_memory_bytes); })},
       });
     })},
    {"static", H([&](N n, F f) {
       p.section(n, f, {
         {"cpu_cores", H([&](N v, F ff) { cores(v, ff, &c.static_cpu_cores); })},
         {"memory", H([&](N v, F ff) { bytes(p, v, ff, &c.static_memory_bytes); })},
       });
     })},
    {"smoothing", H([&](N n, F f) {
       p.section(n, f, {
         {"peak_window", H([&](N v, F ff) {
            dur(p, v, ff, Duration(0), Duration(minutes(10)), &c.peak_window);
          })},
         {"min_peak_window", H([&](N v, F ff) {
            dur(p, v, ff, Duration(0), Duration(minutes(10)), &c.min_peak_window);
          })},
         {"grow_time_constant", H([&](N v, F ff) {
            dur(p, v, ff, Duration(0), Duration(hours(1)), &c.grow_time_constant);
          })},
       });
     })},
    {"stale_after", H([&](N v, F ff) {
       dur(p, v, ff, Duration(milliseconds(100)), Duration(minutes(10)), &c.stale_after);
     })},
    {"utc_offset_minutes", H([&](N v, F ff) {
       int m;
       if (p.integer(v, ff, -14 * 60, 14 * 60, &m)) c.utc_offset_minutes = m;
     })},
    {"default_level", H([&](N v, F ff) {
       Level l;
       level_node = v;
       if (level(p, v, ff, &l)) default_level = l;
     })},
    {"default_fraction", H([&](N v, F ff) {
       double x;
       fraction_node = v;
       if (ranged(p, v, ff, 0, false, 1, &x)) default_fraction = x;
     })},
    {"windows", H([&](N v, F ff) {
       if (!v.IsSequence()) {
         p.error(v, ff, "expected a list of windows");
         return;
       }
       std::vector<TimeWindow> ws;
       bool all_ok = true;
       for (size_t i = 0; i < v.size(); i++) {
         bool ok = false;
         TimeWindow w = parse_window(p, v[i], ff + "[" + std::to_string(i) + "]", i, &ok);
         all_ok &= ok;
         ws.push_back(w);
       }
       if (all_ok) c.windows = ws;
     })},
    {"stop_growing_before", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(hours(24)), &c.stop_growing_before);
     })},
    {"grace_period", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(hours(24)), &c.grace_period);
     })},
  });
  if (default_fraction && !default_level) default_level = c.default_level.level;
  if (default_level)
    finish_level(p, level_node ? *level_node : *fraction_node, field + ".default_level",
                 fraction_node, field + ".default_fraction", default_level, default_fraction,
                 &c.default_level);
  if (c.mode == Mode::Static && c.static_cpu_cores <= 0 && c.static_memory_bytes == 0)
    p.error(mode_node ? *mode_node : node, field + ".static",
            "static mode needs static.cpu_cores or static.memory above zero");
}

void parse_controller_section(const YAML::Node& node, const std::string& field, ConfigParser& p,
                              ControllerConfig* out) {
  p.section(node, field, {
    {"tick", H([&](N v, F ff) {
       dur(p, v, ff, Duration(milliseconds(10)), Duration(seconds(10)), &out->tick);
     })},
    {"hold", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(minutes(10)), &out->hold);
     })},
    {"demand_hold", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(minutes(10)), &out->demand_hold);
     })},
    {"step", H([&](N v, F ff) {
       ranged(p, v, ff, 0, true, 1, &out->step);
     })},
    {"floor", H([&](N v, F ff) {
       ranged(p, v, ff, 0, false, 1, &out->floor);
     })},
    {"fast_interval", H([&](N v, F ff) {
       dur(p, v, ff, Duration(milliseconds(1)), Duration(milliseconds(100)), &out->fast_interval);
     })},
    {"fast_window", H([&](N v, F ff) {
       dur(p, v, ff, Duration(milliseconds(1)), Duration(seconds(1)), &out->fast_window);
     })},
    {"saturation", H([&](N v, F ff) {
       ranged(p, v, ff, 0, false, 1, &out->saturation);
     })},
    {"cpuset_cover", H([&](N v, F ff) {
       ranged(p, v, ff, 0, true, 1, &out->cpuset_cover);
     })},
    {"fast_cpuset", H([&](N v, F ff) { p.boolean(v, ff, &out->fast_cpuset); })},
    {"memory_pressure_stall", H([&](N v, F ff) {
       ranged(p, v, ff, 0, false, 1, &out->memory_pressure_stall);
     })},
    {"memory_pressure_hold", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(hours(1)), &out->memory_pressure_hold);
     })},
  });
  if (out->fast_window < out->fast_interval)
    p.error(node, field + ".fast_window", "shorter than fast_interval");
}

void parse_eviction_section(const YAML::Node& node, const std::string& field, ConfigParser& p,
                            EvictionConfig* out) {
  p.section(node, field, {
    {"enabled", H([&](N v, F ff) { p.boolean(v, ff, &out->enabled); })},
    {"dry_run", H([&](N v, F ff) { p.boolean(v, ff, &out->dry_run); })},
    {"cooldown", H([&](N v, F ff) {
       dur(p, v, ff, Duration(0), Duration(hours(1)), &out->cooldown);
     })},
    {"burst_limit", H([&](N v, F ff) {
       p.integer(v, ff, 1, 1000, &out->burst_limit);
     })},
    {"burst_window", H([&](N v, F ff) {
       dur(p, v, ff, Duration(seconds(1)), Duration(hours(24)), &out->burst_window);
     })},
    {"memory", H([&](N v, F ff) {
       parse_watermark(p, v, ff, MarkKind::HighFraction, &out->memory);
     })},
    {"cpu_satisfaction", H([&](N v, F ff) {
       parse_watermark(p, v, ff, MarkKind::LowFraction, &out->cpu_satisfaction);
     })},
    {"ls_latency", H([&](N v, F ff) {
       parse_watermark(p, v, ff, MarkKind::Latency, &out->ls_latency);
     })},
    {"disk", H([&](N v, F ff) {
       if (!v.IsSequence()) {
         p.error(v, ff, "expected a list of {path, trigger, release}");
         return;
       }
       std::vector<DiskWatermark> disks;
       for (size_t i = 0; i < v.size(); i++) {
         std::string fi = ff + "[" + std::to_string(i) + "]";
         DiskWatermark d;
         d.mark = {true, 0.90, 0.85, Duration{0}};
         parse_watermark(p, v[i], fi, MarkKind::HighFraction, &d.mark, &d.path);
         if (v[i].IsMap() && !v[i]["path"]) p.error(v[i], fi + ".path", "missing");
         for (auto& other : disks)
           if (!d.path.empty() && other.path == d.path)
             p.error(v[i]["path"], fi + ".path", "duplicate path '" + d.path + "'");
         disks.push_back(d);
       }
       out->disks = disks;
     })},
  });
}

std::string default_policy_yaml() {
  return R"(# How much CPU and memory BE may use on this node ("colocatable").
policy:
  # dynamic: capacity x watermark - LS use - system use (re-computed on every sample)
  # static:  a fixed amount (for idle spare machines), capped at capacity x watermark
  # off:     nothing
  mode: dynamic
  # Safety watermarks: the share of the node LS + system + BE may fill together.
  # Bilibili's colocated fleet runs at ~35% average and ~55% peak CPU; 0.70
  # keeps 30% headroom for LS bursts the fast path has not yet reacted to.
  # Memory cannot be taken back without killing, so its watermark stays below
  # the eviction trigger (eviction.memory.trigger).
  cpu_watermark: 0.70
  memory_watermark: 0.80
  # Kept for the system (kernel, daemons) even when its measured use is lower.
  system_reserve:
    cpu_cores: 0.5
    memory: 512Mi
  # The amount for mode static (cpu_cores, and memory as 512Mi/4Gi/bytes).
  static:
    cpu_cores: 0
    memory: 0
  # The dynamic amount falls at once when LS use rises (LS needs the CPU now)
  # and rises with care: it holds the peak LS/system use for a while (a quiet
  # sample between two bursts does not open the box), then climbs with
  # grow_time_constant (63% of the gap per constant). The hold adapts between
  # min_peak_window and peak_window: LS that comes back within twice the hold
  # after it let go doubles it (recurring bursts keep the box closed between
  # them); a hold that let go for good halves it (after a one-off burst the
  # box is back within about a second). Only swings of at least half the
  # range the amount moves in (capacity x cpu_watermark - reserve) adapt it,
  # not LS background noise. min_peak_window >= peak_window: a fixed hold of
  # peak_window. 0s turns either off.
  smoothing:
    peak_window: 3s
    min_peak_window: 500ms
    grow_time_constant: 300ms
  # No node sample for this long: colocatable becomes zero (never unlimited).
  stale_after: 5s
  # Time windows use local time; set a fixed UTC offset in minutes instead:
  # utc_offset_minutes: 480
  # Level outside every window: on | off | reduced (reduced needs default_fraction).
  default_level: on
  # Windows, e.g. colocation off on weekday afternoons, half on at night:
  #   - {name: peak, days: [weekdays], start: "12:00", end: "23:00", level: off}
  #   - {name: night, days: [all], start: "23:00", end: "07:00", level: reduced, fraction: 0.5}
  # days: mon..sun, weekdays, weekends, all (the day a window starts on);
  # end <= start crosses midnight. Where windows overlap the lowest level wins.
  windows: []
  # Before the level drops the amount stops growing, and after it dropped it
  # shrinks linearly over the grace period: BE work started earlier can finish.
  stop_growing_before: 15m
  grace_period: 15m

# How the big box follows the colocatable amount.
controller:
  # Slow-path period; also the shortest time between two growth steps.
  tick: 100ms
  # LS must stay healthy this long after an urgent clamp (an LS wait over its
  # target) before the box grows again.
  hold: 500ms
  # A cut for LS demand alone (the CPUs saturated, nobody waited too long) is
  # capacity arithmetic, not harm: this long after it, the box may go back at
  # once to what it had before the cut, as far as LS then leaves room (LS +
  # system over the last tick against saturation x the CPUs); beyond that it
  # grows step by step.
  demand_hold: 100ms
  # Growth per step as a fraction of the colocatable amount: from the floor to
  # the full amount in 4 steps, 0.5s + 0.4s, inside the 2s recovery goal. With
  # the dynamic policy the amount itself comes back after an LS burst (held
  # for smoothing.min_peak_window, then rising with grow_time_constant): a
  # one-off burst is back to 90% about 1.2s after it ends.
  step: 0.20
  # An urgent LS event cuts the box at once to this fraction of the amount.
  floor: 0.20
  # Fast path: LS CPU demand is read from the kernel every fast_interval; when
  # its average over fast_window no longer fits beside the box, the box is cut
  # at once. A 1-core LS jump is seen after about half the window. With the
  # dynamic policy, LS use over the window that leaves BE less than the box
  # has under cpu_watermark lowers the box at once too (what the next tick
  # would do), when BE uses more than that. While BE runs nothing (under 1% of
  # a core), the demand is read every tick instead: every such cut takes from
  # BE, and an idle agent does not wake 500 times a second.
  fast_interval: 2ms
  fast_window: 10ms
  # ...provided the CPUs are this busy (LS + system + BE: BE is in the way; an
  # idle box is not cut for LS noise). The cut leaves LS this fraction of the
  # CPUs minus its demand (never less than the floor).
  saturation: 0.90
  # The box's cpuset (without SMT): ceil(allowance) CPUs, the ones LS is least
  # busy on, and more only while what LS leaves idle on them covers less than
  # this fraction of the allowance. BE beside LS on the same CPU, held by a
  # quota, costs LS more tail latency than BE on CPUs of its own (measured:
  # tests/bench/RESULTS.md). 1: enough CPUs for the whole allowance.
  cpuset_cover: 0.5
  # A fast-path cut also narrows the box's cpuset at once (by the rule above),
  # instead of at the next tick: a cut quota alone throttles BE on every CPU
  # of the box, beside LS, until then. false: the cpuset moves at ticks only.
  fast_cpuset: true
  # Memory pressure: LS tasks stalled in reclaim whose cause BE shares (global
  # direct reclaim, or a memory limit set above both them and the box, e.g.
  # kubepods) for at least this fraction of a collection window: the box's
  # memory limit drops 1/8 below what BE holds (the kernel reclaims it step by
  # step), again at each such window, and grows back to the colocatable
  # amount only after memory_pressure_hold without one. An LS cgroup at its
  # own limit is not BE's doing and does not count.
  memory_pressure_stall: 0.001
  memory_pressure_hold: 10s

# Which BE tasks to evict when the node is under pressure. Lowest priority
# first, then the largest user of the resource under pressure, then youngest.
eviction:
  enabled: true
  # Decide and log, but evict nothing.
  dry_run: false
  # After an eviction: no further eviction, and the box does not grow. Longer
  # than a SIGTERM-to-SIGKILL grace, so the effect is seen before acting again.
  cooldown: 30s
  # At most this many evictions per burst_window (and per decision).
  burst_limit: 3
  burst_window: 5m
  # Node memory used fraction: above trigger evict until below release.
  memory: {trigger: 0.90, release: 0.85, sustain: 0s}
  # Fraction of BE CPU demand met: below trigger for `sustain`, evict until
  # above release, so the remaining jobs progress instead of all crawling.
  cpu_satisfaction: {trigger: 0.30, release: 0.50, sustain: 30s}
  # LS run-queue latency p99: a backstop for when clamping the box did not
  # help (10x the default urgent latency of 5ms).
  ls_latency: {trigger: 50ms, release: 10ms, sustain: 5s}
  # Used fraction of filesystems, e.g. [{path: /var/lib/colo, trigger: 0.90, release: 0.85}]
  disk: []
)";
}

}  // namespace colo::policy
