#include "agent/config.h"

#include "agent/config_parser.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "userspace/bpf/programs.h"
#include "userspace/cgroup/index.h"
#include "userspace/util/log.h"

namespace colo {

bool valid_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = 0;
  auto [p, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), port);
  return ec == std::errc() && p == s.data() + s.size() && port > 0 && port < 65536;
}

std::optional<uint64_t> parse_duration_ns(const std::string& s) {
  static const std::pair<const char*, uint64_t> units[] = {
      {"ns", 1}, {"us", 1000}, {"ms", 1000'000}, {"s", 1000'000'000ull},
      {"m", 60ull * 1000'000'000ull}, {"h", 3600ull * 1000'000'000ull}};
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
  if (i == 0 || i > 12) return std::nullopt;
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + i, v);
  std::string unit = s.substr(i);
  for (auto& [name, mult] : units)
    if (unit == name) {
      if (v > UINT64_MAX / mult) return std::nullopt;  // would wrap around
      return v * mult;
    }
  return std::nullopt;
}

std::optional<uint64_t> parse_rate_bytes_per_second(const std::string& s) {
  static const std::pair<const char*, double> units[] = {
      {"bit", 1.0 / 8},  {"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8},
      {"tbit", 1e12 / 8}, {"bps", 1},       {"kbps", 1e3},     {"mbps", 1e6},
      {"gbps", 1e9}};
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) i++;
  if (i == 0 || i > 15) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
  if (ec != std::errc() || p != s.data() + i) return std::nullopt;
  std::string unit = s.substr(i);
  for (auto& [name, mult] : units)
    if (unit == name) {
      double b = v * mult;
      if (b < 1 || b > 1e13) return std::nullopt;
      return static_cast<uint64_t>(b + 0.5);
    }
  return std::nullopt;
}

Config parse_config(const std::string& text, std::vector<ConfigError>* errors) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    errors->push_back({e.mark.line >= 0 ? e.mark.line + 1 : 0, "(syntax)", e.msg});
    return c;
  }
  if (root.IsNull()) return c;  // an empty file means all defaults
  ConfigParser p(errors);
  using H = ConfigParser::Handler;
  int limit_line = 0, low_line = 0, stats_window_line = 0;
  std::vector<int> cgroup_lines;
  p.section(root, "", {
    {"agent", H([&](const YAML::Node& n, const std::string& f) {
       p.section(n, f, {
         {"metrics_addr", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (valid_host_port(s)) c.agent.metrics_addr = s;
              else p.error(v, ff, "expected HOST:PORT, got '" + s + "'");
            }
          })},
         {"socket", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (!s.empty() && s[0] == '/' && s.size() < 100) c.agent.socket_path = s;
              else p.error(v, ff, "expected an absolute path shorter than 100 characters");
            }
          })},
         {"log_level", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            LogLevel l;
            if (p.str(v, ff, &s)) {
              if (parse_log_level(s, &l)) c.agent.log_level = s;
              else p.error(v, ff, "expected one of debug, info, warn, error; got '" + s + "'");
            }
          })},
         {"collect_interval", H([&](const YAML::Node& v, const std::string& ff) {
            uint64_t ns;
            if (p.duration(v, ff, 10'000'000ull, 60'000'000'000ull, &ns))
              c.agent.collect_interval_ms = ns / 1000'000;
          })},
       });
     })},
    {"metrics", H([&](const YAML::Node& n, const std::string& f) {
       p.section(n, f, {
         {"cgroup_histograms", H([&](const YAML::Node& v, const std::string& ff) {
            p.str_list(v, ff, &c.metrics.cgroup_histograms, true);
          })},
         {"max_cgroup_histograms", H([&](const YAML::Node& v, const std::string& ff) {
            p.integer(v, ff, 0u, 100000u, &c.metrics.max_cgroup_histograms);
          })},
       });
     })},
    {"cgroup", H([&](const YAML::Node& n, const std::string& f) {
       p.section(n, f, {
         {"root", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (!s.empty() && s[0] == '/') c.cgroup.root = s;
              else p.error(v, ff, "expected an absolute path");
            }
          })},
         {"bigbox", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.rel_path(v, ff, &s)) {
              if (s == "/") p.error(v, ff, "the big box cannot be the hierarchy root");
              else c.cgroup.bigbox = s;
            }
          })},
         {"bigbox_create", H([&](const YAML::Node& v, const std::string& ff) {
            p.boolean(v, ff, &c.cgroup.bigbox_create);
          })},
         {"manage_bigbox", H([&](const YAML::Node& v, const std::string& ff) {
            p.boolean(v, ff, &c.cgroup.manage_bigbox);
          })},
         {"bigbox_paths", H([&](const YAML::Node& v, const std::string& ff) {
            if (!v.IsMap()) {
              p.error(v, ff, "expected a mapping of controller to path");
              return;
            }
            for (auto it = v.begin(); it != v.end(); ++it) {
              std::string ctrl = it->first.Scalar(), path;
              std::string f = ff + "." + ctrl;
              if (ctrl != "cpu" && ctrl != "cpuset" && ctrl != "memory" && ctrl != "unified") {
                p.error(it->first, f, "expected cpu, cpuset, memory or unified");
                continue;
              }
              if (p.rel_path(it->second, f, &path)) c.cgroup.bigbox_paths[ctrl] = path;
            }
          })},
         {"system", H([&](const YAML::Node& v, const std::string& ff) {
            p.str_list(v, ff, &c.cgroup.system, true);
          })},
         {"max_depth", H([&](const YAML::Node& v, const std::string& ff) {
            p.integer(v, ff, 1, 64, &c.cgroup.max_depth);
          })},
       });
     })},
    {"bpf", H([&](const YAML::Node& n, const std::string& f) {
       p.section(n, f, {
         {"pin_dir", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (s.rfind("/sys/fs/bpf/", 0) == 0 && s.size() > 12) c.bpf.pin_dir = s;
              else p.error(v, ff, "expected a directory below /sys/fs/bpf/");
            }
          })},
         {"attach", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (s == "none" || bpf::parse_attach_mode(s)) c.bpf.attach = s;
              else p.error(v, ff, "expected auto, tp_btf, raw_tp or none; got '" + s + "'");
            }
          })},
         {"wait_source", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (bpf::parse_wait_source(s)) c.bpf.wait_source = s;
              else p.error(v, ff, "expected auto, sched_info or wakeup; got '" + s + "'");
            }
          })},
         {"max_cgroups", H([&](const YAML::Node& v, const std::string& ff) {
            p.integer(v, ff, 64u, 1u << 20, &c.bpf.max_cgroups);
          })},
         {"run_time_stats", H([&](const YAML::Node& v, const std::string& ff) {
            p.boolean(v, ff, &c.bpf.run_time_stats);
          })},
         {"run_time_stats_window", H([&](const YAML::Node& v, const std::string& ff) {
            stats_window_line = line_of(v);
            p.duration(v, ff, 10'000'000ull, 3600'000'000'000ull, &c.bpf.run_time_stats_window_ns);
          })},
         {"run_time_stats_period", H([&](const YAML::Node& v, const std::string& ff) {
            if (!stats_window_line) stats_window_line = line_of(v);
            p.duration(v, ff, 100'000'000ull, 3600'000'000'000ull,
                       &c.bpf.run_time_stats_period_ns);
          })},
         {"btf_path", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (s.empty() || s[0] == '/') c.bpf.btf_path = s;
              else p.error(v, ff, "expected an absolute path or \"\"");
            }
          })},
         {"urgent_latency", H([&](const YAML::Node& v, const std::string& ff) {
            p.duration(v, ff, 0, 10'000'000'000ull, &c.bpf.urgent_latency_ns);
          })},
         {"urgent_interval", H([&](const YAML::Node& v, const std::string& ff) {
            p.duration(v, ff, 0, 10'000'000'000ull, &c.bpf.urgent_interval_ns);
          })},
       });
     })},
    {"topology", H([&](const YAML::Node& n, const std::string& f) {
       p.section(n, f, {
         {"sysfs_root", H([&](const YAML::Node& v, const std::string& ff) {
            std::string s;
            if (p.str(v, ff, &s)) {
              if (!s.empty() && s[0] == '/') c.topology.sysfs_root = s;
              else p.error(v, ff, "expected an absolute path");
            }
          })},
         {"smt_siblings", H([&](const YAML::Node& v, const std::string& ff) {
            if (!v.IsSequence()) {
              p.error(v, ff, "expected a list of [cpu, cpu] pairs");
              return;
            }
            for (size_t i = 0; i < v.size(); i++) {
              std::string fi = ff + "[" + std::to_string(i) + "]";
              if (!v[i].IsSequence() || v[i].size() != 2) {
                p.error(v[i], fi, "expected a pair [cpu, cpu]");
                continue;
              }
              int a, b;
              if (p.integer(v[i][0], fi, 0, 8191, &a) && p.integer(v[i][1], fi, 0, 8191, &b)) {
                if (a == b) p.error(v[i], fi, "a CPU cannot be its own sibling");
                else c.topology.smt_siblings.emplace_back(a, b);
              }
            }
          })},
       });
     })},
    {"policy", H([&](const YAML::Node& n, const std::string& f) {
       policy::parse_policy_section(n, f, p, &c.policy);
     })},
    {"controller", H([&](const YAML::Node& n, const std::string& f) {
       policy::parse_controller_section(n, f, p, &c.controller);
     })},
    {"eviction", H([&](const YAML::Node& n, const std::string& f) {
       policy::parse_eviction_section(n, f, p, &c.eviction);
     })},
    {"kubernetes", H([&](const YAML::Node& n, const std::string& f) {
       k8s::parse_kubernetes_section(n, f, p, &c.kubernetes);
     })},
    {"network", H([&](const YAML::Node& n, const std::string& f) {
       p.section(n, f, {
         {"interfaces", H([&](const YAML::Node& v, const std::string& ff) {
            std::vector<std::string> l;
            if (p.str_list(v, ff, &l, false)) {
              for (auto& s : l)
                if (s.empty() || s.size() >= 16 || s.find('/') != std::string::npos)
                  p.error(v, ff, "invalid interface name '" + s + "'");
              c.network.interfaces = l;
            }
          })},
         {"limit", H([&](const YAML::Node& ln, const std::string& lf) {
            auto& L = c.network.limit;
            auto rate = [&](uint64_t* out) {
              return H([&, out](const YAML::Node& v, const std::string& ff) {
                std::string s;
                if (!p.str(v, ff, &s)) return;
                if (auto r = parse_rate_bytes_per_second(s)) *out = *r;
                else p.error(v, ff, "expected a rate such as 100mbit, 1gbit or 12500kbps, got '" +
                                        s + "'");
              });
            };
            p.section(ln, lf, {
              {"enabled", H([&](const YAML::Node& v, const std::string& ff) {
                 p.boolean(v, ff, &L.enabled);
               })},
              {"high", rate(&L.high)},
              {"low", H([&](const YAML::Node& v, const std::string& ff) {
                 rate(&L.low)(v, ff);
                 low_line = line_of(v);
               })},
              {"ls_watermark", rate(&L.ls_watermark)},
              {"window", H([&](const YAML::Node& v, const std::string& ff) {
                 p.duration(v, ff, 10'000'000ull, 1'000'000'000ull, &L.window_ns);
               })},
              {"hold", H([&](const YAML::Node& v, const std::string& ff) {
                 p.duration(v, ff, 0, 3600'000'000'000ull, &L.hold_ns);
               })},
              {"cgroups", H([&](const YAML::Node& v, const std::string& ff) {
                 if (!v.IsMap()) {
                   p.error(v, ff, "expected a mapping of cgroup path to rate");
                   return;
                 }
                 L.cgroups.clear();
                 for (auto it = v.begin(); it != v.end(); ++it) {
                   std::string path, s, f = ff + "." + it->first.Scalar();
                   if (!p.rel_path(it->first, f, &path) || !p.str(it->second, f, &s)) continue;
                   auto r = parse_rate_bytes_per_second(s);
                   if (!r) {
                     p.error(it->second, f, "expected a rate such as 50mbit, got '" + s + "'");
                     continue;
                   }
                   if (L.cgroups.size() >= 1000) {
                     p.error(it->first, f, "at most 1000 cgroups with their own limit");
                     continue;
                   }
                   L.cgroups.emplace_back(path, *r);
                   cgroup_lines.push_back(line_of(it->first));
                 }
               })},
            });
            limit_line = line_of(ln);
          })},
       });
     })},
  });
  // Checks across keys, once all are read.
  if (c.bpf.run_time_stats_window_ns > c.bpf.run_time_stats_period_ns)
    errors->push_back({stats_window_line, "bpf.run_time_stats_window",
                       "must not exceed bpf.run_time_stats_period"});
  auto& L = c.network.limit;
  if (L.low > L.high)
    errors->push_back({low_line ? low_line : limit_line, "network.limit.low",
                       "must not exceed network.limit.high"});
  for (size_t i = 0; i < L.cgroups.size(); i++)
    if (!path_is_within(L.cgroups[i].first, c.cgroup.bigbox) || L.cgroups[i].first == c.cgroup.bigbox)
      errors->push_back({cgroup_lines[i], "network.limit.cgroups." + L.cgroups[i].first,
                         "must be a cgroup inside the big box (" + c.cgroup.bigbox + ")"});
  return c;
}

Config load_config_file(const std::string& path, std::vector<ConfigError>* errors) {
  std::ifstream in(path);
  if (!in) {
    errors->push_back({0, "(file)", "cannot read the file"});
    return Config{};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), errors);
}

std::vector<std::string> bpf_changes_needing_restart(const BpfConfig& before,
                                                     const BpfConfig& after) {
  std::vector<std::string> out;
  if (before.pin_dir != after.pin_dir) out.push_back("bpf.pin_dir");
  if (before.attach != after.attach) out.push_back("bpf.attach");
  if (before.wait_source != after.wait_source) out.push_back("bpf.wait_source");
  if (before.max_cgroups != after.max_cgroups) out.push_back("bpf.max_cgroups");
  if (before.btf_path != after.btf_path) out.push_back("bpf.btf_path");
  return out;
}

std::string format_config_errors(const std::string& file, const std::vector<ConfigError>& errs) {
  std::string out;
  for (auto& e : errs)
    out += file + ":" + std::to_string(e.line) + ": " + e.field + ": " + e.reason + "\n";
  return out;
}

std::string default_config_yaml() {
  return R"(# colo configuration. Every key is optional; these are the built-in defaults.
# Check a file with: colo validate FILE

agent:
  # Where /metrics, /healthz and /readyz are served (loopback by default).
  metrics_addr: 127.0.0.1:9809
  # Unix socket for colo status / colo top (mode 0600).
  socket: /run/colo/colo.sock
  # debug | info | warn | error
  log_level: info
  # How often maps and cgroup files are read for metrics (10ms..60s).
  collect_interval: 1s

metrics:
  # Run-queue latency histograms are exported per class (ls, be, system); these
  # cgroups (with everything below them) get their own as well.
  cgroup_histograms: []
  # And at most this many other cgroups, first seen first served (0 = none).
  max_cgroup_histograms: 0

cgroup:
  # Where the cgroup hierarchies are mounted (v1 controllers, v2, or hybrid).
  root: /sys/fs/cgroup
  # The big box, relative to each hierarchy root: everything below it is BE.
  bigbox: /colo.slice/bigbox
  # Create the box if missing (bare hosts); false: adopt an existing one only,
  # e.g. bigbox: /kubepods/besteffort (cgroupfs driver) or
  # /kubepods.slice/kubepods-besteffort.slice (systemd driver).
  bigbox_create: true
  # Drive the box's quota, cpuset and memory limit (false: observe only).
  manage_bigbox: true
  # Per-controller exceptions to bigbox, e.g. {memory: /other/path}.
  bigbox_paths: {}
  # Cgroups counted as class "system" (with everything below them).
  system:
    - /system.slice
    - /init.scope
  # Deepest cgroup level walked below the root.
  max_depth: 16

bpf:
  # Pinned maps, for bpftool and for an agent restarted after a crash.
  pin_dir: /sys/fs/bpf/colo
  # auto (tp_btf, falling back to raw_tp) | tp_btf | raw_tp | none (cgroupfs only)
  attach: auto
  # Where run-queue waits come from: sched_info (the kernel's own queue time,
  # read at sched_switch alone: no wakeup program), wakeup (colo's programs on
  # sched_wakeup and sched_wakeup_new), auto (sched_info where the kernel has
  # it: CONFIG_SCHED_INFO and 5.14+).
  wait_source: auto
  # Size of the per-cgroup maps.
  max_cgroups: 8192
  # BTF of this kernel for CO-RE when it has none at /sys/kernel/btf/vmlinux
  # (e.g. from BTFHub); "" = the kernel's. Without any, colo falls back to cgroupfs.
  btf_path: ""
  # An LS task that waited this long for a CPU raises an urgent event (0 = never).
  urgent_latency: 5ms
  # At most one urgent event per cgroup per CPU in this interval.
  urgent_interval: 10ms
  # The kernel's BPF run-time stats while colo runs: colo_bpf_prog_run_seconds_total
  # and colo_bpf_prog_runs_total (they stay 0 without). Each run of every BPF
  # program on the host then reads the clock twice: about 1% of
  # `perf bench sched pipe` throughput on the VM of tests/bench/RESULTS.md.
  run_time_stats: true
  # Sampled: the stats are on for the first window of every period. Each
  # window measures every program's cost and runs; between windows the
  # counters grow at the rate the last window measured (estimates, right over
  # whole periods for a steady load). A window as long as the period keeps
  # them on, for exact counts.
  run_time_stats_window: 1s
  run_time_stats_period: 10s

topology:
  # Root of sysfs for CPU topology discovery (a fixture tree in tests).
  sysfs_root: /sys
  # Declare CPUs SMT siblings, overriding sysfs, e.g. [[0, 1]].
  smt_siblings: []

network:
  # Interfaces whose egress is accounted per cgroup; "auto" = those with a
  # default route; [] = none.
  interfaces: [auto]
  # BE egress limiting on those interfaces (needs BPF; colo puts an HTB at the
  # root of each, and refuses interfaces whose root qdisc someone else set).
  # Rates as tc writes them: 100mbit, 1gbit (bits/s) or 12500kbps (bytes/s).
  limit:
    enabled: false
    # The big box's egress limit per interface while LS is quiet ...
    high: 1gbit
    # ... and while LS egress on the interface is above ls_watermark.
    low: 100mbit
    ls_watermark: 500mbit
    # LS egress is averaged over this window (10ms..1s).
    window: 30ms
    # LS below the watermark this long before BE gets the high limit back.
    hold: 1s
    # BE cgroups (inside the box) with a ceiling of their own, e.g.
    # {/colo.slice/bigbox/backup: 50mbit}.
    cgroups: {}
)" + std::string("\n") + policy::default_policy_yaml() + k8s::default_kubernetes_yaml();
}

}  // namespace colo
