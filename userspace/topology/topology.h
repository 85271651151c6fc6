// CPU topology from sysfs (or a fixture tree rooted at --sysfs-root):
// online CPUs and SMT siblings.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace colo {

struct Topology {
  std::vector<int> possible;             // devices/system/cpu/possible
  std::vector<int> online;               // devices/system/cpu/online
  // Physical cores: each a sorted list of online CPUs sharing a core
  // (thread_siblings_list, or core_id + physical_package_id when absent).
  std::vector<std::vector<int>> cores;

  bool smt() const;                      // any core with more than one online CPU
  // The first other online CPU of `cpu`'s core, or -1.
  int sibling_of(int cpu) const;
  // The core holding `cpu`, or nullptr.
  const std::vector<int>* core_of(int cpu) const;
};

// Reads <sysfs_root>/devices/system/cpu/{possible,online} and
// cpuN/topology/{thread_siblings_list,core_id,physical_package_id}; offline CPUs
// (no topology dir, or not in online) are left out of cores. A tree holding only
// those files suffices.
std::optional<Topology> read_topology(const std::string& sysfs_root, std::string* err);

// Declares each pair SMT siblings (the topology override of the config), moving
// them into one core. Unknown or offline CPUs: false and *err says which.
bool apply_sibling_override(Topology& topo, const std::vector<std::pair<int, int>>& pairs,
                            std::string* err);

}  // namespace colo
