#include "agent/policy/policy_config.h"

#include <gtest/gtest.h>

#include "agent/config_parser.h"

namespace colo::policy {
namespace {

using namespace std::chrono_literals;

struct Parsed {
  PolicyConfig policy;
  ControllerConfig controller;
  EvictionConfig eviction;
  std::vector<ConfigError> errors;
};

// Dispatches the three sections the way the top-level config does.
Parsed parse(const std::string& yaml) {
  Parsed r;
  ConfigParser p(&r.errors);
  YAML::Node root = YAML::Load(yaml);
  using H = ConfigParser::Handler;
  p.section(root, "", {
    {"policy", H([&](const YAML::Node& n, const std::string& f) { parse_policy_section(n, f, p, &r.policy); })},
    {"controller", H([&](const YAML::Node& n, const std::string& f) { parse_controller_section(n, f, p, &r.controller); })},
    {"eviction", H([&](const YAML::Node& n, const std::string& f) { parse_eviction_section(n, f, p, &r.eviction); })},
  });
  return r;
}

std::string dump(const std::vector<ConfigError>& errs) {
  std::string s;
  for (auto& e : errs) s += std::to_string(e.line) + ": " + e.field + ": " + e.reason + "\n";
  return s;
}

TEST(PolicyConfig, DefaultYamlParsesToTheBuiltInDefaults) {
  Parsed r = parse(default_policy_yaml());
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  PolicyConfig d;
  EXPECT_EQ(r.policy.mode, d.mode);
  EXPECT_EQ(r.policy.cpu_watermark, d.cpu_watermark);
  EXPECT_EQ(r.policy.memory_watermark, d.memory_watermark);
  EXPECT_EQ(r.policy.reserve_cpu_cores, d.reserve_cpu_cores);
  EXPECT_EQ(r.policy.reserve_memory_bytes, d.reserve_memory_bytes);
  EXPECT_EQ(r.policy.peak_window, d.peak_window);
  EXPECT_EQ(r.policy.grow_time_constant, d.grow_time_constant);
  EXPECT_EQ(r.policy.stale_after, d.stale_after);
  EXPECT_EQ(r.policy.stop_growing_before, d.stop_growing_before);
  EXPECT_EQ(r.policy.grace_period, d.grace_period);
  EXPECT_EQ(r.policy.default_level.level, Level::On);
  EXPECT_TRUE(r.policy.windows.empty());
  EXPECT_FALSE(r.policy.utc_offset_minutes);
  ControllerConfig c;
  EXPECT_EQ(r.controller.tick, c.tick);
  EXPECT_EQ(r.controller.hold, c.hold);
  EXPECT_EQ(r.controller.step, c.step);
  EXPECT_EQ(r.controller.floor, c.floor);
  EXPECT_EQ(r.controller.cpuset_cover, c.cpuset_cover);
  EXPECT_EQ(r.controller.fast_cpuset, c.fast_cpuset);
  EvictionConfig e;
  EXPECT_EQ(r.eviction.dry_run, e.dry_run);
  EXPECT_EQ(r.eviction.cooldown, e.cooldown);
  EXPECT_EQ(r.eviction.burst_limit, e.burst_limit);
  EXPECT_EQ(r.eviction.burst_window, e.burst_window);
  EXPECT_EQ(r.eviction.memory.trigger, e.memory.trigger);
  EXPECT_EQ(r.eviction.memory.release, e.memory.release);
  EXPECT_EQ(r.eviction.cpu_satisfaction.trigger, e.cpu_satisfaction.trigger);
  EXPECT_EQ(r.eviction.cpu_satisfaction.sustain, e.cpu_satisfaction.sustain);
  EXPECT_DOUBLE_EQ(r.eviction.ls_latency.trigger, e.ls_latency.trigger);
  EXPECT_DOUBLE_EQ(r.eviction.ls_latency.release, e.ls_latency.release);
  EXPECT_TRUE(r.eviction.disks.empty());
}

TEST(PolicyConfig, ParsesEverything) {
  Parsed r = parse(R"(policy:
  mode: static
  cpu_watermark: 0.6
  system_reserve: {cpu_cores: 1.5, memory: 2Gi}
  static: {cpu_cores: 4, memory: 8G}
  smoothing: {peak_window: 10s, grow_time_constant: 0s}
  stale_after: 2s
  utc_offset_minutes: 480
  default_level: reduced
  default_fraction: 0.5
  windows:
    - {name: peak, days: [weekdays], start: "12:00", end: "23:00", level: off}
    - {days: [sat, Sun], start: 23:00, end: 24:00, level: reduced, fraction: 0.25}
    - {days: all, start: "22:00", end: "06:00", level: on}
  stop_growing_before: 5m
  grace_period: 0s
controller: {tick: 250ms, hold: 2s, step: 0.25, floor: 0, memory_pressure_stall: 0.01,
             memory_pressure_hold: 30s, cpuset_cover: 1, fast_cpuset: false}
eviction:
  dry_run: true
  cooldown: 1m
  burst_limit: 5
  burst_window: 1h
  memory: {trigger: 0.95, release: 0.9}
  cpu_satisfaction: {enabled: false}
  ls_latency: {trigger: 20ms, release: 5ms, sustain: 1s}
  disk:
    - {path: /var/lib/colo, trigger: 0.8, release: 0.7}
    - {path: /tmp}
)");
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  const PolicyConfig& p = r.policy;
  EXPECT_EQ(p.mode, Mode::Static);
  EXPECT_EQ(p.cpu_watermark, 0.6);
  EXPECT_EQ(p.reserve_cpu_cores, 1.5);
  EXPECT_EQ(p.reserve_memory_bytes, 2ull << 30);
  EXPECT_EQ(p.static_memory_bytes, 8'000'000'000ull);
  EXPECT_EQ(p.peak_window, 10s);
  EXPECT_EQ(p.grow_time_constant, 0s);
  EXPECT_EQ(p.utc_offset_minutes, 480);
  EXPECT_EQ(p.default_level.level, Level::Reduced);
  EXPECT_EQ(p.default_level.fraction, 0.5);
  ASSERT_EQ(p.windows.size(), 3u);
  EXPECT_EQ(p.windows[0].name, "peak");
  EXPECT_EQ(p.windows[0].days, 0x1f);
  EXPECT_EQ(p.windows[0].start_minute, 12 * 60);
  EXPECT_EQ(p.windows[0].level.fraction, 0.0);
  EXPECT_EQ(p.windows[1].name, "window[1]");
  EXPECT_EQ(p.windows[1].days, 0x60);
  EXPECT_EQ(p.windows[1].end_minute, 1440);
  EXPECT_EQ(p.windows[1].length_minutes(), 60);
  EXPECT_EQ(p.windows[1].level.fraction, 0.25);
  EXPECT_EQ(p.windows[2].length_minutes(), 8 * 60);
  EXPECT_EQ(p.windows[2].level.fraction, 1.0);
  EXPECT_EQ(r.controller.tick, 250ms);
  EXPECT_EQ(r.controller.floor, 0.0);
  EXPECT_EQ(r.controller.cpuset_cover, 1.0);
  EXPECT_FALSE(r.controller.fast_cpuset);
  EXPECT_DOUBLE_EQ(r.controller.memory_pressure_stall, 0.01);
  EXPECT_EQ(r.controller.memory_pressure_hold, 30s);
  EXPECT_TRUE(r.eviction.dry_run);
  EXPECT_EQ(r.eviction.cooldown, 1min);
  EXPECT_FALSE(r.eviction.cpu_satisfaction.enabled);
  EXPECT_DOUBLE_EQ(r.eviction.ls_latency.trigger, 0.020);
  EXPECT_EQ(r.eviction.ls_latency.sustain, 1s);
  ASSERT_EQ(r.eviction.disks.size(), 2u);
  EXPECT_EQ(r.eviction.disks[0].mark.release, 0.7);
  EXPECT_EQ(r.eviction.disks[1].path, "/tmp");
  EXPECT_EQ(r.eviction.disks[1].mark.trigger, 0.90);
}

TEST(PolicyConfig, AnInvalidWindowListKeepsThePreviousWindows) {
  Parsed r = parse("policy:\n  windows:\n    - {start: \"01:00\", end: \"02:00\", level: loud}\n");
  EXPECT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_TRUE(r.policy.windows.empty());
}

struct BadCase {
  const char* yaml;
  int line;
  const char* field;
  const char* reason_part;
};

class PolicyConfigBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(PolicyConfigBad, ReportsFieldLineAndReason) {
  const BadCase& b = GetParam();
  Parsed r = parse(b.yaml);
  ASSERT_FALSE(r.errors.empty()) << b.yaml;
  EXPECT_EQ(r.errors[0].line, b.line) << b.yaml << dump(r.errors);
  EXPECT_EQ(r.errors[0].field, b.field) << b.yaml << dump(r.errors);
  EXPECT_NE(r.errors[0].reason.find(b.reason_part), std::string::npos) << dump(r.errors);
}

INSTANTIATE_TEST_SUITE_P(PolicyConfigTable, PolicyConfigBad, ::testing::Values(
  BadCase{"policy:\n  mode: fast\n", 2, "policy.mode", "expected dynamic, static or off"},
  BadCase{"policy:\n  colour: red\n", 2, "policy.colour", "unknown key"},
  BadCase{"policy: [1]\n", 1, "policy", "expected a mapping"},
  BadCase{"policy:\n  cpu_watermark: 0\n", 2, "policy.cpu_watermark", "must be in (0, 1]"},
  BadCase{"policy:\n  cpu_watermark: 1.5\n", 2, "policy.cpu_watermark", "must be in (0, 1], got 1.5"},
  BadCase{"policy:\n  memory_watermark: high\n", 2, "policy.memory_watermark", "expected a number, got 'high'"},
  BadCase{"policy:\n  system_reserve:\n    cpu_cores: -1\n", 3, "policy.system_reserve.cpu_cores", "must be in [0"},
  BadCase{"policy:\n  system_reserve:\n    memory: 12XB\n", 3, "policy.system_reserve.memory", "expected a size"},
  BadCase{"policy:\n  mode: static\n", 2, "policy.static", "static mode needs"},
  BadCase{"policy:\n  smoothing:\n    peak_window: 1\n", 3, "policy.smoothing.peak_window", "expected a duration"},
  BadCase{"policy:\n  stale_after: 10ms\n", 2, "policy.stale_after", "out of range"},
  BadCase{"policy:\n  utc_offset_minutes: 9999\n", 2, "policy.utc_offset_minutes", "between -840 and 840"},
  BadCase{"policy:\n  default_level: reduced\n", 2, "policy.default_level", "needs policy.default_fraction"},
  BadCase{"policy:\n  default_fraction: 0.5\n", 2, "policy.default_fraction", "only meaningful with level reduced"},
  BadCase{"policy:\n  windows: {start: \"01:00\"}\n", 2, "policy.windows", "expected a list"},
  BadCase{"policy:\n  windows:\n    - {start: \"25:00\", end: \"02:00\", level: on}\n", 3,
          "policy.windows[0].start", "expected a time HH:MM"},
  BadCase{"policy:\n  windows:\n    - {start: \"01:00\", end: \"7:00\", level: on}\n", 3,
          "policy.windows[0].end", "got '7:00'"},
  BadCase{"policy:\n  windows:\n    - {start: \"24:00\", end: \"02:00\", level: on}\n", 3,
          "policy.windows[0].start", "23:59"},
  BadCase{"policy:\n  windows:\n    - start: \"01:00\"\n      end: \"01:00\"\n      level: on\n", 4,
          "policy.windows[0].end", "equals start"},
  BadCase{"policy:\n  windows:\n    - end: \"01:00\"\n      level: on\n", 3,
          "policy.windows[0].start", "missing"},
  BadCase{"policy:\n  windows:\n    - days: [mon,\n             funday]\n      start: \"01:00\"\n", 4,
          "policy.windows[0].days", "unknown day 'funday'"},
  BadCase{"policy:\n  windows:\n    - {days: [], start: \"01:00\", end: \"02:00\", level: on}\n", 3,
          "policy.windows[0].days", "non-empty list"},
  BadCase{"policy:\n  windows:\n    - start: \"01:00\"\n      end: \"02:00\"\n      level: reduced\n", 5,
          "policy.windows[0].level", "level reduced needs policy.windows[0].fraction"},
  BadCase{"policy:\n  windows:\n    - start: \"01:00\"\n      end: \"02:00\"\n      level: off\n      fraction: 0.5\n",
          6, "policy.windows[0].fraction", "only meaningful with level reduced"},
  BadCase{"policy:\n  windows:\n    - {start: \"01:00\", end: \"02:00\", level: reduced, fraction: 1.5}\n", 3,
          "policy.windows[0].fraction", "must be in [0, 1]"},
  BadCase{"policy:\n  windows:\n    - {start: \"01:00\", end: \"02:00\", level: on, colour: red}\n", 3,
          "policy.windows[0].colour", "unknown key"},
  BadCase{"policy:\n  stop_growing_before: 25h\n", 2, "policy.stop_growing_before", "out of range"},
  BadCase{"controller:\n  tick: 1ms\n", 2, "controller.tick", "out of range"},
  BadCase{"controller:\n  step: 0\n", 2, "controller.step", "must be in (0, 1]"},
  BadCase{"controller:\n  floor: -0.1\n", 2, "controller.floor", "must be in [0, 1]"},
  BadCase{"controller:\n  cpuset_cover: 0\n", 2, "controller.cpuset_cover", "must be in (0, 1]"},
  BadCase{"controller:\n  fast_cpuset: sometimes\n", 2, "controller.fast_cpuset", "expected"},
  BadCase{"controller:\n  hold: soon\n", 2, "controller.hold", "expected a duration"},
  BadCase{"controller:\n  memory_pressure_stall: 1.5\n", 2, "controller.memory_pressure_stall",
          "must be in [0, 1]"},
  BadCase{"controller:\n  memory_pressure_hold: 2h\n", 2, "controller.memory_pressure_hold",
          "out of range"},
  BadCase{"eviction:\n  dry_run: maybe\n", 2, "eviction.dry_run", "expected true or false"},
  BadCase{"eviction:\n  burst_limit: 0\n", 2, "eviction.burst_limit", "between 1 and 1000"},
  BadCase{"eviction:\n  memory:\n    trigger: 0.9\n    release: 0.95\n", 4, "eviction.memory.release",
          "release 0.95 must not be above trigger 0.9"},
  BadCase{"eviction:\n  memory:\n    trigger: 0.8\n", 3, "eviction.memory.trigger",
          "release 0.85 must not be above trigger 0.8"},
  BadCase{"eviction:\n  memory: {trigger: 1.2}\n", 2, "eviction.memory.trigger", "must be in (0, 1]"},
  BadCase{"eviction:\n  cpu_satisfaction: {trigger: 0.5, release: 0.3}\n", 2,
          "eviction.cpu_satisfaction.release", "must not be below trigger"},
  BadCase{"eviction:\n  ls_latency: {trigger: 50}\n", 2, "eviction.ls_latency.trigger", "expected a duration"},
  BadCase{"eviction:\n  ls_latency: {trigger: 5ms}\n", 2, "eviction.ls_latency.trigger",
          "release 0.01 must not be above trigger 0.005"},
  BadCase{"eviction:\n  disk:\n    - {trigger: 0.9}\n", 3, "eviction.disk[0].path", "missing"},
  BadCase{"eviction:\n  disk:\n    - {path: var/lib}\n", 3, "eviction.disk[0].path", "expected an absolute path"},
  BadCase{"eviction:\n  disk:\n    - {path: /a}\n    - {path: /a}\n", 4, "eviction.disk[1].path", "duplicate"},
  BadCase{"eviction:\n  disk: /var\n", 2, "eviction.disk", "expected a list"}));

}  // namespace
}  // namespace colo::policy
