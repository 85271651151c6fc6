// Plain, validated settings of the decision logic: how much BE may have
// (`policy:`), how the big box follows it (`controller:`), and when BE tasks
// are evicted (`eviction:`). Defaults are good enough to run without a file;
// the reasons for each are in default_policy_yaml().
#pragma once
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/clock.h"

namespace colo {
class ConfigParser;
}

namespace colo::policy {

enum class Mode { Dynamic, Static, Off };
const char* mode_name(Mode m);  // "dynamic" | "static" | "off"

enum class Level { On, Reduced, Off };
const char* level_name(Level l);  // "on" | "reduced" | "off"

// A colocation level and the share of the mode's amount it grants.
struct LevelSpec {
  Level level = Level::On;
  double fraction = 1.0;  // 1 for On, 0 for Off, the configured value for Reduced
};

// Colocation at a level on some weekdays between two times of day. A window
// belongs to the day it starts on: fri 22:00-06:00 runs Friday 22:00 to
// Saturday 06:00.
struct TimeWindow {
  std::string name;
  uint8_t days = 0x7f;   // bit 0 = Monday … bit 6 = Sunday
  int start_minute = 0;  // 0 … 1439
  int end_minute = 0;    // 1 … 1440 ("24:00"); <= start_minute: ends the next day
  LevelSpec level;
  int length_minutes() const {
    return end_minute > start_minute ? end_minute - start_minute : end_minute + 1440 - start_minute;
  }
};

struct PolicyConfig {
  Mode mode = Mode::Dynamic;
  // Dynamic: capacity × watermark − LS use − max(reserve, measured system use).
  double cpu_watermark = 0.70;
  double memory_watermark = 0.80;
  double reserve_cpu_cores = 0.5;
  uint64_t reserve_memory_bytes = 512ull << 20;
  // Static: a fixed amount, capped at capacity × watermark.
  double static_cpu_cores = 0;
  uint64_t static_memory_bytes = 0;
  // Smoothing of the dynamic amount: the peak LS/system use is held for
  // between min_peak_window and peak_window (adaptive: LS that comes back
  // soon after the hold let it go doubles the hold, a hold that let go for
  // good halves it), then the amount rises (never falls) with this time
  // constant. 0 disables either; min_peak_window >= peak_window: a fixed hold.
  Duration peak_window = std::chrono::seconds(3);
  Duration min_peak_window = std::chrono::milliseconds(500);
  Duration grow_time_constant = std::chrono::milliseconds(300);
  // No usable node sample for this long: zero colocatable resources.
  Duration stale_after = std::chrono::seconds(5);
  // Time windows; outside all of them default_level applies, where several
  // overlap the most restrictive wins.
  LevelSpec default_level;
  std::vector<TimeWindow> windows;
  Duration stop_growing_before = std::chrono::minutes(15);
  Duration grace_period = std::chrono::minutes(15);
  // Time zone of the windows: a fixed UTC offset in minutes, else the host's.
  std::optional<int> utc_offset_minutes;
};

struct ControllerConfig {
  // Slow-path period, and the shortest time between two growth steps.
  Duration tick = std::chrono::milliseconds(100);
  // LS must have stayed healthy (no urgent clamp, no unhealthy tick) this long.
  Duration hold = std::chrono::milliseconds(500);
  double step = 0.20;   // growth per step, as a fraction of the target
  double floor = 0.20;  // a clamp cuts the allowance to this fraction of the target
  // Fast path: how often LS demand is sampled from the kernel's per-class CPU
  // time, and the window its average is taken over.
  Duration fast_interval = std::chrono::milliseconds(2);
  Duration fast_window = std::chrono::milliseconds(10);
  // The fast path acts only when the node's CPUs are this busy over the
  // window (LS, system and BE together: BE is in LS's way), and cuts the box
  // to what LS leaves of this fraction of the CPUs (never below the floor).
  double saturation = 0.90;
  // Memory pressure: LS tasks stalled in reclaim that BE shares the cause of
  // (global direct reclaim, or a memory limit above both the LS cgroup and
  // the box) for at least this fraction of a collection window lower the
  // box's memory limit below what BE holds, and it stays there until no such
  // stall has been seen for memory_pressure_hold.
  double memory_pressure_stall = 0.001;
  Duration memory_pressure_hold = std::chrono::seconds(10);
  // After a cut for LS demand alone (the CPUs saturated, no LS wait over its
  // target), this long: then the box may return at once to what it had before
  // the cut, as far as LS leaves room for it; beyond that, step by step.
  Duration demand_hold = std::chrono::milliseconds(100);
  // Without SMT the box's cpuset gets ceil(allowance) CPUs, and more only
  // while what LS leaves idle on them covers less than this fraction of the
  // allowance. 1: as many CPUs as make LS's leftovers cover all of it (BE
  // gets its whole quota, spread over CPUs LS also runs on, under a CFS quota
  // that throttles it there). Lower: fewer CPUs beside LS, at some cost to
  // BE. tests/bench/RESULTS.md: at 25% nginx load a 1-CPU box cost LS p99
  // 1.07x for 0.97 cores of BE, a 1-core quota over both CPUs 1.34x for 1.00.
  double cpuset_cover = 0.5;
  // A fast-path cut (LS demand, urgent event) also takes the box off the CPUs
  // the lower allowance no longer needs (by the rule above, with LS's per-CPU
  // use over the last tick), at once: a cut quota alone throttles BE on every
  // CPU of the box, beside LS, until the next tick moves the cpuset. Only
  // narrows; the tick widens it again as the allowance grows back.
  bool fast_cpuset = true;
};

// A trigger and a release level: pressure starts when the signal crosses
// `trigger` (for `sustain`), and evictions go on until it is back past
// `release`. For cpu_satisfaction lower is worse, so release > trigger there.
struct Watermark {
  bool enabled = true;
  double trigger = 0;
  double release = 0;
  Duration sustain{0};
};

struct DiskWatermark {
  std::string path;
  Watermark mark;
};

struct EvictionConfig {
  bool enabled = true;
  bool dry_run = false;
  Duration cooldown = std::chrono::seconds(30);
  int burst_limit = 3;
  Duration burst_window = std::chrono::minutes(5);
  Watermark memory{true, 0.90, 0.85, Duration{0}};                            // used fraction
  Watermark cpu_satisfaction{true, 0.30, 0.50, std::chrono::seconds(30)};     // BE demand met
  Watermark ls_latency{true, 0.050, 0.010, std::chrono::seconds(5)};          // p99 seconds
  std::vector<DiskWatermark> disks;                                            // used fraction
};

// Parsers for the three sections, in the style of parse_config(): every
// problem is recorded through `p` as field + line; *out keeps its value for
// keys that are absent or invalid.
void parse_policy_section(const YAML::Node& node, const std::string& field, ConfigParser& p,
                          PolicyConfig* out);
void parse_controller_section(const YAML::Node& node, const std::string& field, ConfigParser& p,
                              ControllerConfig* out);
void parse_eviction_section(const YAML::Node& node, const std::string& field, ConfigParser& p,
                            EvictionConfig* out);

// The `policy:`, `controller:` and `eviction:` sections with the built-in
// defaults, commented, ready to append to the default configuration file.
std::string default_policy_yaml();

}  // namespace colo::policy
