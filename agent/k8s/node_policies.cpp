#include "agent/k8s/node_policies.h"

#include "agent/config_parser.h"

namespace colo::k8s {
namespace {

// Maps merge key by key; anything else is replaced.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over) {
  if (!over.IsDefined() || over.IsNull()) return base.IsDefined() ? YAML::Clone(base) : YAML::Node();
  if (!base.IsDefined() || !base.IsMap() || !over.IsMap()) return YAML::Clone(over);
  YAML::Node out = YAML::Clone(base);
  for (auto it = over.begin(); it != over.end(); ++it) {
    std::string k = it->first.Scalar();
    YAML::Node before = base[k];  // undefined when base lacks k
    out[k] = merge(before, it->second);
  }
  return out;
}

// Checks one config fragment with the sections' own parsers (lines are the
// policies file's).
void check_fragment(const YAML::Node& n, const std::string& field, ConfigParser& p) {
  Config scratch;
  using H = ConfigParser::Handler;
  p.section(n, field, {
    {"policy", H([&](const YAML::Node& v, const std::string& f) { policy::parse_policy_section(v, f, p, &scratch.policy); })},
    {"controller", H([&](const YAML::Node& v, const std::string& f) { policy::parse_controller_section(v, f, p, &scratch.controller); })},
    {"eviction", H([&](const YAML::Node& v, const std::string& f) { policy::parse_eviction_section(v, f, p, &scratch.eviction); })},
  });
}

}  // namespace

std::optional<NodePolicyChoice> choose_node_policy(const std::string& base_yaml,
                                                   const std::string& text,
                                                   const std::map<std::string, std::string>& labels,
                                                   std::vector<ConfigError>* errors) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    errors->push_back({e.mark.line >= 0 ? e.mark.line + 1 : 0, "(syntax)", e.msg});
    return std::nullopt;
  }
  ConfigParser p(errors);
  using H = ConfigParser::Handler;
  YAML::Node def;
  struct Override {
    std::string name;
    std::map<std::string, std::string> selector;
    YAML::Node config;
  };
  std::vector<Override> overrides;
  if (!root.IsNull()) {
    p.section(root, "", {
      {"default", H([&](const YAML::Node& v, const std::string& f) {
         check_fragment(v, f, p);
         def = v;
       })},
      {"overrides", H([&](const YAML::Node& v, const std::string& f) {
         if (!v.IsSequence()) {
           p.error(v, f, "expected a list of {name, node_selector, config}");
           return;
         }
         for (size_t i = 0; i < v.size(); i++) {
           std::string fi = f + "[" + std::to_string(i) + "]";
           Override o;
           bool has_selector = false;
           p.section(v[i], fi, {
             {"name", H([&](const YAML::Node& x, const std::string& ff) { p.str(x, ff, &o.name); })},
             {"node_selector", H([&](const YAML::Node& x, const std::string& ff) {
                if (!x.IsMap() || x.size() == 0) {
                  p.error(x, ff, "expected a non-empty mapping of node label to value");
                  return;
                }
                has_selector = true;
                for (auto it = x.begin(); it != x.end(); ++it) {
                  std::string val;
                  if (p.str(it->second, ff + "." + it->first.Scalar(), &val))
                    o.selector[it->first.Scalar()] = val;
                }
              })},
             {"config", H([&](const YAML::Node& x, const std::string& ff) {
                check_fragment(x, ff, p);
                o.config = x;
              })},
           });
           if (v[i].IsMap() && o.name.empty()) p.error(v[i], fi + ".name", "required");
           if (v[i].IsMap() && !has_selector) p.error(v[i], fi + ".node_selector", "required");
           overrides.push_back(std::move(o));
         }
       })},
    });
  }
  if (!errors->empty()) return std::nullopt;

  NodePolicyChoice choice;
  choice.group = "default";
  YAML::Node chosen;
  for (auto& o : overrides) {
    bool match = !o.selector.empty();
    for (auto& [k, v] : o.selector) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) match = false;
    }
    if (match) {
      chosen = o.config;
      choice.group = o.name;
      break;
    }
  }
  YAML::Node base;
  try {
    base = base_yaml.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(base_yaml);
  } catch (const YAML::ParserException& e) {
    errors->push_back({e.mark.line >= 0 ? e.mark.line + 1 : 0, "(base config)", e.msg});
    return std::nullopt;
  }
  if (base.IsNull()) base = YAML::Node(YAML::NodeType::Map);
  YAML::Node merged = merge(merge(base, def), chosen);
  YAML::Emitter em;
  em << merged;
  std::vector<ConfigError> errs;
  choice.config = parse_config(em.c_str(), &errs);
  if (!errs.empty()) {
    for (auto& e : errs) errors->push_back({0, e.field, e.reason + " (after merging group " + choice.group + ")"});
    return std::nullopt;
  }
  return choice;
}

}  // namespace colo::k8s
