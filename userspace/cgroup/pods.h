// Pods and containers in the kubelet's cgroup tree ("kubepods"), from cgroup
// paths alone: both cgroup drivers (cgroupfs: /kubepods/burstable/pod<uid>/<id>;
// systemd: /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/
// cri-containerd-<id>.scope), containerd, CRI-O and Docker container names,
// cgroup v1 hierarchies and v2 alike (the tree is the same below the root).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace colo {

enum class QosClass { Guaranteed, Burstable, BestEffort };
// "Guaranteed" | "Burstable" | "BestEffort" (as in a pod's status.qosClass).
const char* qos_name(QosClass q);
std::optional<QosClass> parse_qos(std::string_view s);

enum class CgroupDriver { Cgroupfs, Systemd };

// What a cgroup path says about a pod, from the names of its directories.
struct PodRef {
  std::string uid;                // the pod's UID with dashes
  QosClass qos = QosClass::Guaranteed;
  CgroupDriver driver = CgroupDriver::Cgroupfs;
  std::string pod_path;           // the pod's cgroup, relative to the hierarchy root
  std::string container_id;       // "" for the pod cgroup itself
  std::string runtime;            // "containerd" | "cri-o" | "docker" | "" (unknown, plain id)
  bool conmon = false;            // CRI-O's monitor process of the container, not the container
};

// The pod (and container) a cgroup path belongs to; nullopt outside pods.
// "/kubepods/besteffort/pod<uid>/<64 hex>" and ".../<id>/sub" alike.
std::optional<PodRef> pod_of_path(std::string_view rel_path);

// One directory name: the container id it stands for, and the runtime.
// "cri-containerd-<id>.scope", "crio-<id>.scope", "crio-<id>", "docker-<id>.scope",
// "<64 hex>"; nullopt for anything else.
struct ContainerName {
  std::string id, runtime;
  bool conmon = false;
};
std::optional<ContainerName> parse_container_dir(std::string_view name);

struct ContainerCgroup {
  std::string id, runtime, rel_path;
};
struct PodCgroup {
  std::string uid;
  QosClass qos = QosClass::Guaranteed;
  std::string rel_path;
  std::vector<ContainerCgroup> containers;  // sorted by path; conmon scopes left out
};
struct PodTree {
  std::optional<CgroupDriver> driver;  // nullopt: no kubepods tree here
  std::string kubepods;                // "/kubepods" or "/kubepods.slice"
  std::vector<PodCgroup> pods;         // sorted by path
};

// Walks the kubepods tree below one hierarchy root (an absolute path: a v1
// controller's mount or the v2 root). Directories that vanish mid-walk are
// skipped; nothing is written.
PodTree discover_pods(const std::string& hierarchy_root);

// The BestEffort QoS cgroup for a driver ("/kubepods/besteffort",
// "/kubepods.slice/kubepods-besteffort.slice").
std::string besteffort_path(CgroupDriver d);

}  // namespace colo
