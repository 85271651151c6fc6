// colo's configuration: one YAML file -> plain structs, validated before use.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  uint64_t urgent_latency_ns = 5'000'000;
  uint64_t urgent_interval_ns = 10'000'000;
};

struct TopologyConfig {
  std::string sysfs_root = "/sys";
  // Declared SMT sibling pairs, replacing what sysfs says for those CPUs.
  std::vector<std::pair<int, int>> smt_siblings;
};

struct NetworkConfig {
  // Interfaces to account egress on; "auto" stands for those with a default
  // route. An empty list accounts none.
  std::vector<std::string> interfaces = {"auto"};
};

struct Config {
  AgentConfig agent;
  policy::PolicyConfig policy;
  policy::ControllerConfig controller;
  policy::EvictionConfig eviction;
  CgroupConfig cgroup;
  BpfConfig bpf;
  TopologyConfig topology;
  NetworkConfig network;
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

// The built-in defaults as commented YAML that parse_config accepts.
std::string default_config_yaml();

// "HOST:PORT" (IPv6 hosts in brackets), port 1-65535.
bool valid_host_port(const std::string& s);

// "5ms", "1s", "250us", "2m", "100ns" -> ns. nullopt when malformed.
std::optional<uint64_t> parse_duration_ns(const std::string& s);

}  // namespace colo
