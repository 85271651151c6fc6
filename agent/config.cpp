#include "agent/config.h"

#include "agent/config_parser.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "userspace/bpf/programs.h"
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
         {"max_cgroups", H([&](const YAML::Node& v, const std::string& ff) {
            p.integer(v, ff, 64u, 1u << 20, &c.bpf.max_cgroups);
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
       });
     })},
  });
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
  # Size of the per-cgroup maps.
  max_cgroups: 8192
  # An LS task that waited this long for a CPU raises an urgent event (0 = never).
  urgent_latency: 5ms
  # At most one urgent event per cgroup per CPU in this interval.
  urgent_interval: 10ms

topology:
  # Root of sysfs for CPU topology discovery (a fixture tree in tests).
  sysfs_root: /sys
  # Declare CPUs SMT siblings, overriding sysfs, e.g. [[0, 1]].
  smt_siblings: []

network:
  # Interfaces whose egress is accounted per cgroup; "auto" = those with a
  # default route; [] = none.
  interfaces: [auto]
)" + std::string("\n") + policy::default_policy_yaml();
}

}  // namespace colo
