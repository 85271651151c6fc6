// The kubelet's view of the node's pods (its read-only /pods list, a v1
// PodList), what class colo gives each pod, and the metric labels of a
// cgroup path (namespace, pod, container, qos_class).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/k8s/api_client.h"
#include "agent/k8s/k8s_config.h"
#include "userspace/cgroup/pods.h"

namespace colo::k8s {

struct ContainerInfo {
  std::string name;
  std::string id;       // without the runtime prefix ("containerd://")
  std::string runtime;  // "containerd" | "cri-o" | "docker" | ""
};

struct PodInfo {
  std::string uid, namespace_, name, node, phase;
  std::optional<QosClass> qos;
  int priority = 0;
  std::string start_time;  // RFC 3339, "" if not started
  std::map<std::string, std::string> labels;
  std::vector<ContainerInfo> containers;  // init, app and ephemeral containers with an id
};

// A v1 PodList (JSON). Items without metadata.uid/name/namespace are skipped;
// malformed JSON or a document that is not a PodList -> nullopt and *err.
std::optional<std::vector<PodInfo>> parse_pod_list(const std::string& json, std::string* err);

// BE or LS: the be_label wins ("be" / "ls"), else the QoS class.
bool is_be_pod(const PodInfo& p, const KubernetesConfig& cfg);

using Labels = std::vector<std::pair<std::string, std::string>>;

// The node's pods, swapped in whole after each read of the kubelet; shared
// by the metrics thread (labels) and the eviction code.
class PodDirectory {
 public:
  void replace(std::vector<PodInfo> pods);
  size_t size() const;
  std::optional<PodInfo> by_uid(const std::string& uid) const;
  std::optional<PodInfo> by_key(const std::string& ns_name) const;  // "namespace/name"
  std::vector<PodInfo> all() const;
  // Labels for a cgroup path (relative to its hierarchy root): namespace,
  // pod, container and qos_class, each "" when unknown (not a pod's cgroup,
  // or a pod the kubelet has not listed yet; qos_class then comes from the
  // path). Always the same four names, in this order.
  Labels labels_for(const std::string& rel_path) const;
  // The identity of a cgroup's metric series: a listed pod's cgroups by
  // namespace/pod/container/qos_class with `cgroup` empty (the path holds the
  // pod uid and container ids), other cgroups (system slices, the kubepods
  // QoS levels) by their path with the pod labels empty; nullopt for a pod
  // the kubelet has not listed yet. Always cgroup + the four names above.
  std::optional<Labels> metric_labels(const std::string& rel_path) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, PodInfo> by_uid_;
  std::map<std::string, std::pair<std::string, std::string>> container_;  // id -> (uid, name)
};

// GET <kubelet_url> (the PodList) with the client's retries.
std::optional<std::vector<PodInfo>> fetch_pods(const ApiClient& kubelet, std::string* err);

}  // namespace colo::k8s
