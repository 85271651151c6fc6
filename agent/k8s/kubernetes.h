// Kubernetes mode: the node's pods from the kubelet (metric labels, BE pods
// as eviction candidates), the colocatable amounts as extended resources on
// the Node, evictions through the Eviction API, and the node group's policy.
// Network work runs on its own thread (step() on a timer), so the control
// loop never waits for the API server; tests call step() directly.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/controller.h"
#include "agent/k8s/api_client.h"
#include "agent/k8s/node_api.h"
#include "agent/k8s/node_policies.h"
#include "agent/k8s/pods.h"
#include "agent/policy/clock.h"

namespace colo::k8s {

class KubernetesMode : public PodEvictionHook {
 public:
  struct Paths {
    std::string config_file;     // the agent's own config ("" = defaults), base of node policies
    std::string pod_hierarchy;   // absolute: the hierarchy whose paths metrics use (cpu)
    std::string memory_hierarchy;  // absolute: memory usage of candidates
    std::string bigbox;          // relative: the kill fallback never leaves it
  };
  using Sleeper = ApiClient::Sleeper;
  using Signaller = std::function<int(pid_t, int)>;

  KubernetesMode(const Config& cfg, Paths paths, const policy::Clock& clock,
                 Sleeper sleeper = nullptr, Signaller signaller = nullptr);
  ~KubernetesMode() override;

  // Resolves the node name and the endpoints (config, then environment).
  bool init(std::string* err);
  // One round: pods, node labels and policy, resources, queued evictions.
  void step();
  void start();
  void stop();

  Labels labels_for(const std::string& rel_path) const { return pods_.labels_for(rel_path); }
  std::optional<Labels> metric_labels(const std::string& rel_path) const {
    return pods_.metric_labels(rel_path);
  }
  const PodDirectory& pods() const { return pods_; }
  void set_colocatable(double cpu_cores, uint64_t memory_bytes);
  // A newly chosen node-group policy for the agent to apply, once.
  std::optional<NodePolicyChoice> take_policy();
  // The agent's config file was reloaded: choose the policy again.
  void invalidate_policy();

  // PodEvictionHook (called under the controller's lock: no network here).
  std::vector<policy::Candidate> candidates() override;
  bool evict(const std::string& id, const std::string& reason) override;

  nlohmann::json status() const;
  const std::string& node_name() const { return node_; }
  // Results of evictions done so far ("ns/name" -> outcome), for tests and status.
  std::map<std::string, EvictOutcome> eviction_results() const;

 private:
  void refresh_pods(policy::MonoTime now);
  void refresh_policy(policy::MonoTime now);
  void run_evictions();
  bool kill_pod(const std::string& uid);

  Config cfg_;
  Paths paths_;
  const policy::Clock& clock_;
  Sleeper sleeper_;
  Signaller signal_;
  std::string node_;
  std::unique_ptr<ApiClient> api_, kubelet_;
  std::unique_ptr<NodeResourceReporter> reporter_;
  PodDirectory pods_;
  std::optional<policy::MonoTime> next_pods_, next_labels_;
  std::optional<std::map<std::string, std::string>> node_labels_;
  std::string policy_key_;  // what the last choice was made from
  std::atomic<bool> invalidate_{false};
  std::optional<std::pair<int64_t, int64_t>> reported_;
  // Pod UID -> memory cgroup, re-walked at most once a second (candidates()
  // runs on every controller tick).
  std::map<std::string, std::string> mem_cgroups_;
  std::optional<policy::MonoTime> mem_cgroups_at_;
  std::string policy_error_key_;

  mutable std::mutex mu_;
  std::optional<std::pair<double, uint64_t>> colocatable_;
  std::optional<NodePolicyChoice> pending_policy_;
  std::string group_ = "";
  std::deque<std::pair<std::string, std::string>> evict_queue_;  // (ns/name, reason)
  std::map<std::string, EvictOutcome> evicted_;
  std::string last_pods_error_;

  std::thread thread_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace colo::k8s
