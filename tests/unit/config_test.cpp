#include "agent/config.h"

#include <gtest/gtest.h>

namespace colo {
namespace {

TEST(Config, EmptyMeansDefaults) {
  std::vector<ConfigError> errs;
  Config c = parse_config("", &errs);
  EXPECT_TRUE(errs.empty());
  EXPECT_EQ(c.agent.metrics_addr, "127.0.0.1:9809");
  EXPECT_EQ(c.cgroup.bigbox, "/colo.slice/bigbox");
  EXPECT_EQ(c.bpf.urgent_latency_ns, 5'000'000u);
  EXPECT_EQ(c.network.interfaces, std::vector<std::string>{"auto"});
}

TEST(Config, DefaultYamlIsValidAndEqualsBuiltIns) {
  std::vector<ConfigError> errs;
  Config c = parse_config(default_config_yaml(), &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("default", errs);
  Config d;
  EXPECT_EQ(c.agent.metrics_addr, d.agent.metrics_addr);
  EXPECT_EQ(c.agent.socket_path, d.agent.socket_path);
  EXPECT_EQ(c.agent.collect_interval_ms, d.agent.collect_interval_ms);
  EXPECT_EQ(c.cgroup.system, d.cgroup.system);
  EXPECT_EQ(c.bpf.pin_dir, d.bpf.pin_dir);
  EXPECT_EQ(c.bpf.max_cgroups, d.bpf.max_cgroups);
  EXPECT_EQ(c.bpf.btf_path, d.bpf.btf_path);
  EXPECT_EQ(c.bpf.wait_source, d.bpf.wait_source);
  EXPECT_EQ(c.bpf.urgent_interval_ns, d.bpf.urgent_interval_ns);
  EXPECT_EQ(c.bpf.run_time_stats, d.bpf.run_time_stats);
  EXPECT_TRUE(d.bpf.run_time_stats) << "on unless turned off: colo measures its own cost";
  EXPECT_EQ(c.bpf.run_time_stats_window_ns, d.bpf.run_time_stats_window_ns);
  EXPECT_EQ(c.bpf.run_time_stats_period_ns, d.bpf.run_time_stats_period_ns);
  EXPECT_LT(d.bpf.run_time_stats_window_ns, d.bpf.run_time_stats_period_ns)
      << "sampled unless told otherwise: the stats cost every BPF program run on the host";
  EXPECT_EQ(c.network.interfaces, d.network.interfaces);
}

TEST(Config, ParsesValues) {
  std::vector<ConfigError> errs;
  Config c = parse_config(R"(
agent:
  metrics_addr: 0.0.0.0:9100
  collect_interval: 250ms
cgroup:
  bigbox: /kubepods/besteffort/
  system: [/system.slice]
bpf:
  attach: raw_tp
  wait_source: wakeup
  urgent_latency: 2ms
  run_time_stats: false
  run_time_stats_window: 500ms
  run_time_stats_period: 1m
topology:
  smt_siblings: [[0, 1], [2, 3]]
network:
  interfaces: [eth0, lo]
)",
                          &errs);
  ASSERT_TRUE(errs.empty()) << format_config_errors("t", errs);
  EXPECT_EQ(c.agent.metrics_addr, "0.0.0.0:9100");
  EXPECT_EQ(c.agent.collect_interval_ms, 250u);
  EXPECT_EQ(c.cgroup.bigbox, "/kubepods/besteffort");
  EXPECT_EQ(c.bpf.attach, "raw_tp");
  EXPECT_EQ(c.bpf.wait_source, "wakeup");
  EXPECT_EQ(c.bpf.urgent_latency_ns, 2'000'000u);
  EXPECT_FALSE(c.bpf.run_time_stats);
  EXPECT_EQ(c.bpf.run_time_stats_window_ns, 500'000'000u);
  EXPECT_EQ(c.bpf.run_time_stats_period_ns, 60'000'000'000u);
  ASSERT_EQ(c.topology.smt_siblings.size(), 2u);
  EXPECT_EQ(c.topology.smt_siblings[1], std::make_pair(2, 3));
  EXPECT_EQ(c.network.interfaces, (std::vector<std::string>{"eth0", "lo"}));
}

struct BadCase {
  const char* yaml;
  int line;
  const char* field;
  const char* reason_part;
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, ReportsFieldLineAndReason) {
  const BadCase& b = GetParam();
  std::vector<ConfigError> errs;
  parse_config(b.yaml, &errs);
  ASSERT_FALSE(errs.empty()) << b.yaml;
  EXPECT_EQ(errs[0].line, b.line) << b.yaml;
  EXPECT_EQ(errs[0].field, b.field) << b.yaml;
  EXPECT_NE(errs[0].reason.find(b.reason_part), std::string::npos) << errs[0].reason;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfig,
    ::testing::Values(
        BadCase{"agent:\n  metrics_addr: [1]\n", 2, "agent.metrics_addr", "expected a string"},
        BadCase{"agent:\n  metrics_addr: localhost\n", 2, "agent.metrics_addr", "HOST:PORT"},
        BadCase{"agent:\n  metrics_addr: h:70000\n", 2, "agent.metrics_addr", "HOST:PORT"},
        BadCase{"agent:\n  colect_interval: 1s\n", 2, "agent.colect_interval", "unknown key"},
        BadCase{"agent:\n  collect_interval: 5\n", 2, "agent.collect_interval", "duration"},
        BadCase{"agent:\n  collect_interval: 1ms\n", 2, "agent.collect_interval", "out of range"},
        BadCase{"agent:\n  log_level: loud\n", 2, "agent.log_level", "expected one of"},
        BadCase{"agent:\n  socket: relative.sock\n", 2, "agent.socket", "absolute"},
        BadCase{"bogus: 1\n", 1, "bogus", "unknown key"},
        BadCase{"cgroup: 3\n", 1, "cgroup", "expected a mapping"},
        BadCase{"cgroup:\n  bigbox: kubepods\n", 2, "cgroup.bigbox", "starting with '/'"},
        BadCase{"cgroup:\n  bigbox: /\n", 2, "cgroup.bigbox", "root"},
        BadCase{"cgroup:\n  bigbox: /a/../b\n", 2, "cgroup.bigbox", "relative"},
        BadCase{"cgroup:\n  system: /system.slice\n", 2, "cgroup.system", "expected a list"},
        BadCase{"cgroup:\n  system: [ok, /fine]\n", 2, "cgroup.system[0]", "starting with"},
        BadCase{"cgroup:\n  max_depth: 0\n", 2, "cgroup.max_depth", "between 1 and 64"},
        BadCase{"cgroup:\n  max_depth: deep\n", 2, "cgroup.max_depth", "expected an integer"},
        BadCase{"bpf:\n  attach: kprobe\n", 2, "bpf.attach", "expected auto"},
        BadCase{"bpf:\n  wait_source: schedstat\n", 2, "bpf.wait_source",
                "expected auto, sched_info or wakeup; got 'schedstat'"},
        BadCase{"bpf:\n  pin_dir: /tmp/x\n", 2, "bpf.pin_dir", "/sys/fs/bpf/"},
        BadCase{"bpf:\n  max_cgroups: 1\n", 2, "bpf.max_cgroups", "between"},
        BadCase{"bpf:\n  btf_path: vmlinux.btf\n", 2, "bpf.btf_path", "absolute path"},
        BadCase{"bpf:\n  urgent_latency: 20s\n", 2, "bpf.urgent_latency", "out of range"},
        BadCase{"bpf:\n  run_time_stats: sometimes\n", 2, "bpf.run_time_stats",
                "expected true or false"},
        BadCase{"bpf:\n  run_time_stats_window: 5ms\n", 2, "bpf.run_time_stats_window",
                "out of range"},
        BadCase{"bpf:\n  run_time_stats_period: 2h\n", 2, "bpf.run_time_stats_period",
                "out of range"},
        BadCase{"bpf:\n  run_time_stats_period: 1s\n  run_time_stats_window: 2s\n", 3,
                "bpf.run_time_stats_window", "must not exceed bpf.run_time_stats_period"},
        BadCase{"topology:\n  smt_siblings: [[0]]\n", 2, "topology.smt_siblings[0]", "pair"},
        BadCase{"topology:\n  smt_siblings: [[1, 1]]\n", 2, "topology.smt_siblings[0]",
                "own sibling"},
        BadCase{"topology:\n  smt_siblings: [[0, -1]]\n", 2, "topology.smt_siblings[0]",
                "between"},
        BadCase{"network:\n  interfaces: [\"a/b\"]\n", 2, "network.interfaces", "invalid"},
        BadCase{"agent: {\n", 2, "(syntax)", ""}));

TEST(Config, BpfChangesNeedingRestartAreNamed) {
  BpfConfig a, b;
  EXPECT_TRUE(bpf_changes_needing_restart(a, b).empty());
  b.urgent_latency_ns = 1'000'000;  // applied on reload
  b.urgent_interval_ns = 1'000'000;
  EXPECT_TRUE(bpf_changes_needing_restart(a, b).empty());
  b.wait_source = "wakeup";
  b.attach = "raw_tp";
  b.max_cgroups = 64;
  EXPECT_EQ(bpf_changes_needing_restart(a, b),
            (std::vector<std::string>{"bpf.attach", "bpf.wait_source", "bpf.max_cgroups"}));
  b = a;
  b.pin_dir = "/sys/fs/bpf/other";
  b.btf_path = "/x.btf";
  EXPECT_EQ(bpf_changes_needing_restart(a, b),
            (std::vector<std::string>{"bpf.pin_dir", "bpf.btf_path"}));
}

TEST(Config, CollectsAllErrors) {
  std::vector<ConfigError> errs;
  parse_config("agent:\n  log_level: x\nbpf:\n  attach: y\nfoo: 1\n", &errs);
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_EQ(format_config_errors("c.yaml", errs).substr(0, 34),
            "c.yaml:2: agent.log_level: expecte");
}

TEST(Config, Durations) {
  EXPECT_EQ(parse_duration_ns("100ns"), 100u);
  EXPECT_EQ(parse_duration_ns("5ms"), 5'000'000u);
  EXPECT_EQ(parse_duration_ns("2m"), 120'000'000'000u);
  EXPECT_FALSE(parse_duration_ns("5"));
  EXPECT_FALSE(parse_duration_ns("ms"));
  EXPECT_FALSE(parse_duration_ns("-5ms"));
  EXPECT_FALSE(parse_duration_ns("5 ms"));
  EXPECT_FALSE(parse_duration_ns("99999999999999ms"));
}

}  // namespace
}  // namespace colo
