// What colo asks of the API server: the Node's labels (for the node-group
// policy), its colocatable resources as extended resources on the Node's
// status, and evictions of BE pods through the Eviction API.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "agent/k8s/api_client.h"
#include "agent/k8s/k8s_config.h"
#include "agent/policy/clock.h"

namespace colo::k8s {

inline constexpr const char* kBatchCpu = "colo.io/batch-cpu";        // milli-cores
inline constexpr const char* kBatchMemory = "colo.io/batch-memory";  // bytes

// GET /api/v1/nodes/NAME -> metadata.labels.
std::optional<std::map<std::string, std::string>> fetch_node_labels(const ApiClient& api,
                                                                    const std::string& node,
                                                                    std::string* err);

// The JSON merge patch of /status that sets both extended resources in
// capacity and allocatable (quantities as decimal strings).
std::string resources_patch(int64_t cpu_milli, int64_t memory_bytes);

// Patches the Node's status when the colocatable amounts moved by more than
// the threshold since the last accepted patch, or when max_interval passed;
// a failed patch is retried at the next update after a backoff that doubles
// up to max_interval.
class NodeResourceReporter {
 public:
  NodeResourceReporter(const ApiClient& api, std::string node, KubernetesConfig::Resources cfg,
                       const policy::Clock& clock);
  enum class Outcome { Unchanged, Patched, Failed, Backoff };
  Outcome update(double cpu_cores, uint64_t memory_bytes);
  void reconfigure(KubernetesConfig::Resources cfg) { cfg_ = cfg; }
  std::optional<std::pair<int64_t, int64_t>> last_reported() const { return last_; }
  int patches() const { return patches_; }

 private:
  bool changed_enough(int64_t cpu, int64_t mem) const;
  const ApiClient& api_;
  std::string node_;
  KubernetesConfig::Resources cfg_;
  const policy::Clock& clock_;
  std::optional<std::pair<int64_t, int64_t>> last_;
  policy::MonoTime last_at_{};
  std::optional<policy::MonoTime> retry_after_;
  std::chrono::nanoseconds retry_wait_{};
  int patches_ = 0;
};

enum class EvictOutcome {
  Evicted,          // 201: the API server accepted it (the pod terminates gracefully)
  Gone,             // 404: the pod no longer exists
  Blocked,          // 429/409: a PodDisruptionBudget (or a conflict) refused it: try later
  Failed,           // other answers, or the API unreachable and no fallback
  Killed,           // the API unreachable; the pod's processes were killed (fallback_kill)
};
const char* evict_outcome_name(EvictOutcome o);

struct EvictResult {
  EvictOutcome outcome = EvictOutcome::Failed;
  int status = 0;
  std::string message;
};

// The policy/v1 Eviction body for a pod.
std::string eviction_body(const std::string& ns, const std::string& name,
                          std::optional<int64_t> grace_seconds);

// POST /api/v1/namespaces/NS/pods/NAME/eviction. 429 (PDB) and 409 are not
// retried here: the caller tries again after its cooldown. With
// fallback_kill, `kill_pod` (which kills the processes of that pod's cgroups
// inside the big box only) runs when no answer came after the retries.
EvictResult evict_pod(const ApiClient& api, const KubernetesConfig::Eviction& cfg,
                      const std::string& ns, const std::string& name,
                      const std::function<bool()>& kill_pod);

}  // namespace colo::k8s
