// Policies per node group: one file (a ConfigMap) with a `default` and
// `overrides` chosen by node labels. The chosen fragments are merged key by
// key over the agent's own configuration and the result validated like any
// configuration; only the policy, controller and eviction sections may be
// set. A bad file is reported with its lines and changes nothing.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"

namespace colo::k8s {

struct NodePolicyChoice {
  Config config;
  std::string group;  // the override's name, or "default"
};

// Validates `policies_text` (errors with its lines), picks the first override
// whose node_selector matches `node_labels`, merges default then that
// override over `base_yaml` (the agent's config file text, "" for defaults)
// and parses the result.
std::optional<NodePolicyChoice> choose_node_policy(const std::string& base_yaml,
                                                   const std::string& policies_text,
                                                   const std::map<std::string, std::string>& node_labels,
                                                   std::vector<ConfigError>* errors);

}  // namespace colo::k8s
