// The `kubernetes` section of colo's configuration: Kubernetes mode (pod
// discovery and labels, extended resources on the Node, eviction through the
// API, policies per node group). Off by default and on bare hosts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace colo {

class ConfigParser;
}  // namespace colo
namespace YAML {
class Node;
}
namespace colo {

struct KubernetesConfig {
  bool enabled = false;
  // This node; "" = $NODE_NAME (downward API).
  std::string node_name;
  // "" = in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
  std::string api_server;
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  // The kubelet's pod list; "" = https://$NODE_IP:10250/pods.
  std::string kubelet_url;
  std::string kubelet_ca_file;  // "" = ca_file
  bool kubelet_insecure_skip_tls_verify = false;
  uint64_t request_timeout_ns = 5'000'000'000ull;
  int retries = 3;                             // attempts after the first
  uint64_t retry_backoff_ns = 200'000'000ull;  // doubled per attempt
  uint64_t pod_refresh_ns = 10'000'000'000ull;
  // A pod with this label set to "be" is BE, set to "ls" is LS, whatever its
  // QoS class; without it, be_qos_classes decide.
  std::string be_label = "colo.io/class";
  std::vector<std::string> be_qos_classes = {"BestEffort"};

  struct Resources {
    bool report = true;
    double threshold = 0.05;  // relative change that triggers a patch
    uint64_t max_interval_ns = 300'000'000'000ull;
  } resources;

  struct Eviction {
    bool use_api = true;
    uint64_t grace_period_ns = 30'000'000'000ull;
    // Kill the pod's processes when the API cannot be reached (after the
    // retries). Never when a PodDisruptionBudget refused the eviction.
    bool fallback_kill = false;
  } eviction;

  // Policies per node group (a ConfigMap mounted as a directory); "" = none.
  std::string node_policies;
  uint64_t node_labels_refresh_ns = 60'000'000'000ull;
};

namespace k8s {
void parse_kubernetes_section(const YAML::Node& n, const std::string& field, ConfigParser& p,
                              KubernetesConfig* out);
std::string default_kubernetes_yaml();
}  // namespace k8s

}  // namespace colo
