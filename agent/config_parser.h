// The YAML walking helpers behind parse_config(), shared by every section's
// parser (policies validate their own arguments with them): type and range
// checks that record "field: reason" with the line, and unknown-key reports.
#pragma once
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/config.h"

namespace colo {

inline int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

class ConfigParser {
 public:
  explicit ConfigParser(std::vector<ConfigError>* errors) : errors_(errors) {}

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

  bool boolean(const YAML::Node& n, const std::string& field, bool* out) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "false") {
        *out = s == "true";
        return true;
      }
    }
    error(n, field, "expected true or false");
    return false;
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

}  // namespace colo
