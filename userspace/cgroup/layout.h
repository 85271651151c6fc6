// Where the cgroup hierarchies are: v1 controllers, v2 (unified), hybrid.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "userspace/util/parse.h"

namespace colo {

struct Hierarchy {
  std::string mount;                     // absolute path of the hierarchy root
  bool v2 = false;
  uint32_t id = 0;                       // hierarchy id as in /proc/cgroups (0 for v2)
  std::vector<std::string> controllers;  // v1: the mount's controllers; v2: cgroup.controllers
};

class CgroupLayout {
 public:
  // From the live system: /proc/self/mountinfo and /proc/cgroups, keeping only
  // mounts at or below `root` (default /sys/fs/cgroup).
  static std::optional<CgroupLayout> discover(const std::string& root, std::string* err);
  // Same, from given texts (unit tests).
  static std::optional<CgroupLayout> from_texts(const std::string& root,
                                                const std::string& mountinfo,
                                                const std::string& proc_cgroups,
                                                std::string* err);
  // From a directory tree only (fixture trees, no mounts): `root` itself is v2 if it
  // has cgroup.controllers, else every subdirectory is a hierarchy: a subdir with
  // cgroup.controllers is v2 (e.g. "unified"), one named after controllers
  // ("cpu", "cpu,cpuacct", "memory", "cpuset") is v1 with those controllers;
  // v1 ids are assigned 1.. in name order.
  static std::optional<CgroupLayout> from_tree(const std::string& root, std::string* err);

  // The hierarchy that holds `controller` ("cpu", "memory", "cpuset", ...). On a
  // v1/hybrid host the v1 mount; on v2 the unified one if the controller is enabled
  // at its root (listed in cgroup.controllers); nullptr if none.
  const Hierarchy* for_controller(const std::string& controller) const;
  // The v2 hierarchy (pure v2 root or hybrid's unified), nullptr if none.
  const Hierarchy* unified() const;
  // True when the v2 hierarchy is the only one (a pure v2 host).
  bool pure_v2() const;
  const std::vector<Hierarchy>& hierarchies() const { return hierarchies_; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::vector<Hierarchy> hierarchies_;
};

// The path of a process in hierarchy `h`, from its /proc/PID/cgroup entries
// (v2: the "0::" line; v1: the line of h's id); nullopt if it has none.
std::optional<std::string> path_in(const std::vector<ProcCgroupEntry>& entries, const Hierarchy& h);

}  // namespace colo
