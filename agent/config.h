// colo's configuration: one YAML file -> plain structs, validated before use.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/k8s/k8s_config.h"
#include "agent/policy/policy_config.h"

namespace colo {

struct AgentConfig {
  std::string metrics_addr = "127.0.0.1:9809";
  std::string socket_path = "/run/colo/colo.sock";
  std::string log_level = "info";
  uint64_t collect_interval_ms = 1000;
};

struct CgroupConfig {
  std::string root = "/sys/fs/cgroup";
  // The big box, relative to each hierarchy root; everything below it is BE.
  std::string bigbox = "/colo.slice/bigbox";
  // Create the box when missing (bare hosts); off: adopt an existing one only
  // (e.g. /kubepods/besteffort).
  bool bigbox_create = true;
  // Drive the box (quota, cpuset, memory limit). Off: observe only.
  bool manage_bigbox = true;
  // Per-controller exceptions to `bigbox` ("memory" -> path).
  std::map<std::string, std::string> bigbox_paths;
  // System slices, relative paths: their cgroups and below are class "system".
  std::vector<std::string> system = {"/system.slice", "/init.scope"};
  int max_depth = 16;
};

struct BpfConfig {
  std::string pin_dir = "/sys/fs/bpf/colo";
  std::string attach = "auto";  // auto | tp_btf | raw_tp | none
  uint32_t max_cgroups = 8192;
  std::string btf_path;  // "" = /sys/kernel/btf/vmlinux
  std::string wait_source = "auto";  // auto | sched_info | wakeup (bpf::WaitSource)
  uint64_t urgent_latency_ns = 5'000'000;
  uint64_t urgent_interval_ns = 10'000'000;
  // The kernel's BPF run-time stats while the agent runs (colo_bpf_prog_*),
  // on for the first window of every period (agent/stats_sampler.h; the
  // window equal to the period: always on).
  bool run_time_stats = true;
  uint64_t run_time_stats_window_ns = 1'000'000'000;
  uint64_t run_time_stats_period_ns = 10'000'000'000;
};

struct TopologyConfig {
  std::string sysfs_root = "/sys";
  // Declared SMT sibling pairs, replacing what sysfs says for those CPUs.
  std::vector<std::pair<int, int>> smt_siblings;
};

// BE egress limiting on the interfaces above (agent/netcontrol.h). Rates are
// bytes per second.
struct EgressLimitConfig {
  bool enabled = false;
  uint64_t high = 125'000'000;         // the box's limit while LS is quiet (1gbit)
  uint64_t low = 12'500'000;           // while LS egress is above the watermark (100mbit)
  uint64_t ls_watermark = 62'500'000;  // LS egress on an interface (500mbit)
  uint64_t window_ns = 30'000'000;     // LS rate averaged over this
  uint64_t hold_ns = 1'000'000'000;    // LS below the watermark this long: high again
  // BE cgroups with a ceiling of their own (path relative to the root, inside
  // the box; its subcgroups share it).
  std::vector<std::pair<std::string, uint64_t>> cgroups;
};

struct NetworkConfig {
  // Interfaces to account egress on; "auto" stands for those with a default
  // route. An empty list accounts none.
  std::vector<std::string> interfaces = {"auto"};
  EgressLimitConfig limit;
};

// What /metrics exports per cgroup. Run-queue latency histograms (28 series
// each) are per class by default; only these cgroups get their own.
struct MetricsConfig {
  // Cgroups (relative paths) that get their own histogram, with everything below them.
  std::vector<std::string> cgroup_histograms;
  // Besides those, at most this many other cgroups, first seen first served; a
  // removed cgroup frees its place.
  uint32_t max_cgroup_histograms = 0;
};

struct Config {
  AgentConfig agent;
  MetricsConfig metrics;
  policy::PolicyConfig policy;
  policy::ControllerConfig controller;
  policy::EvictionConfig eviction;
  CgroupConfig cgroup;
  BpfConfig bpf;
  TopologyConfig topology;
  NetworkConfig network;
  KubernetesConfig kubernetes;
};

// One problem in a config file: "FILE:LINE: field: reason".
struct ConfigError {
  int line = 0;  // 1-based; 0 when unknown
  std::string field;
  std::string reason;
};

// Parses and validates YAML text. Errors are collected (all of them, not only
// the first); the returned config is meaningful only when *errors is empty.
Config parse_config(const std::string& yaml_text, std::vector<ConfigError>* errors);
// Reads and parses a file; a read error is reported as line 0.
Config load_config_file(const std::string& path, std::vector<ConfigError>* errors);
std::string format_config_errors(const std::string& file, const std::vector<ConfigError>& errs);
// The keys of `bpf` that differ between two configurations: all of them take
// effect only when the agent starts (the programs are loaded once), so a
// reload names them instead of applying them.
std::vector<std::string> bpf_changes_needing_restart(const BpfConfig& before,
                                                     const BpfConfig& after);

// The built-in defaults as commented YAML that parse_config accepts.
std::string default_config_yaml();

// Rates as tc writes them: "100mbit", "1gbit", "800kbit", "64bit" (bits/s,
// decimal) or "12500kbps", "1mbps", "100bps" (bytes/s) -> bytes/s.
std::optional<uint64_t> parse_rate_bytes_per_second(const std::string& s);
// "HOST:PORT" (IPv6 hosts in brackets), port 1-65535.
bool valid_host_port(const std::string& s);

// "5ms", "1s", "250us", "2m", "100ns" -> ns. nullopt when malformed.
std::optional<uint64_t> parse_duration_ns(const std::string& s);

}  // namespace colo
