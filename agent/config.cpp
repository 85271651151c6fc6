#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "userspace/bpf/programs.h"
#include "userspace/util/log.h"

namespace colo {
namespace {

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

class Parser {
 public:
  explicit Parser(std::vector<ConfigError>* errors) : errors_(errors) {}

  void error(const YAML::Node& n, const std::string& field, const std::string& reason) {
    errors_->push_back({line_of(n), field, reason});
  }

  bool str(const YAML::Node& n, const std::string& field, std::string* out) {
    if (!n.IsScalar()) {
      error(n, field, "expected a string");
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  template <typename T>
  bool integer(const YAML::Node& n, const std::string& field, T lo, T hi, T* out) {
    if (!n.IsScalar()) {
      error(n, field, "expected an integer");
      return false;
    }
    const std::string& s = n.Scalar();
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
      error(n, field, "expected an integer, got '" + s + "'");
      return false;
    }
    if (v < static_cast<long long>(lo) || v > static_cast<long long>(hi)) {
      error(n, field,
            "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s);
      return false;
    }
    *out = static_cast<T>(v);
    return true;
  }

  bool duration(const YAML::Node& n, const std::string& field, uint64_t lo_ns, uint64_t hi_ns,
                uint64_t* out) {
    if (!n.IsScalar()) {
      error(n, field, "expected a duration such as 5ms or 1s");
      return false;
    }
    auto v = parse_duration_ns(n.Scalar());
    if (!v) {
      error(n, field, "expected a duration such as 5ms or 1s, got '" + n.Scalar() + "'");
      return false;
    }
    if (*v < lo_ns || *v > hi_ns) {
      error(n, field, "out of range: '" + n.Scalar() + "'");
      return false;
    }
    *out = *v;
    return true;
  }

  bool rel_path(const YAML::Node& n, const std::string& field, std::string* out) {
    std::string s;
    if (!str(n, field, &s)) return false;
    if (s.empty() || s[0] != '/' || s.find("/../") != std::string::npos ||
        (s.size() >= 3 && s.compare(s.size() - 3, 3, "/..") == 0)) {
      error(n, field, "expected a path relative to the hierarchy root starting with '/', got '" +
                          s + "'");
      return false;
    }
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    *out = s;
    return true;
  }

  bool str_list(const YAML::Node& n, const std::string& field, std::vector<std::string>* out,
                bool paths) {
    if (!n.IsSequence()) {
      error(n, field, "expected a list");
      return false;
    }
    std::vector<std::string> v;
    for (size_t i = 0; i < n.size(); i++) {
      std::string s;
      std::string f = field + "[" + std::to_string(i) + "]";
      if (paths ? rel_path(n[i], f, &s) : str(n[i], f, &s)) v.push_back(s);
    }
    *out = v;
    return true;
  }

  using Handler = std::function<void(const YAML::Node&, const std::string&)>;
  // Walks a mapping, dispatching known keys and reporting unknown ones.
  void section(const YAML::Node& n, const std::string& name,
               const std::map<std::string, Handler>& handlers) {
    if (!n.IsMap()) {
      error(n, name, "expected a mapping");
      return;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.Scalar();
      std::string field = name.empty() ? key : name + "." + key;
      auto h = handlers.find(key);
      if (h == handlers.end()) {
        error(it->first, field, "unknown key");
        continue;
      }
      h->second(it->second, field);
    }
  }

 private:
  std::vector<ConfigError>* errors_;
};

bool valid_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = 0;
  auto [p, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), port);
  return ec == std::errc() && p == s.data() + s.size() && port > 0 && port < 65536;
}

}  // namespace

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
    if (unit == name) return v * mult;
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
  Parser p(errors);
  using H = Parser::Handler;
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
)";
}

}  // namespace colo
