#include "userspace/topology/topology.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "userspace/util/fs.h"
#include "userspace/util/parse.h"

namespace colo {
namespace {

void set_err(std::string* err, std::string msg) {
  if (err) *err = std::move(msg);
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Reads a cpu list file; nullopt with *err set when it is missing or malformed.
std::optional<std::vector<int>> read_cpu_list(const std::string& path, std::string* err) {
  int e = 0;
  auto text = read_file(path, &e);
  if (!text) {
    set_err(err, path + ": " + std::string(strerror(e)));
    return std::nullopt;
  }
  auto cpus = parse_cpu_list(*text);
  if (!cpus) set_err(err, path + ": not a cpu list");
  return cpus;
}

}  // namespace

bool Topology::smt() const {
  return std::any_of(cores.begin(), cores.end(), [](auto& c) { return c.size() > 1; });
}

const std::vector<int>* Topology::core_of(int cpu) const {
  for (const auto& core : cores)
    if (contains(core, cpu)) return &core;
  return nullptr;
}

int Topology::sibling_of(int cpu) const {
  if (const auto* core = core_of(cpu))
    for (int other : *core)
      if (other != cpu) return other;
  return -1;
}

std::optional<Topology> read_topology(const std::string& sysfs_root, std::string* err) {
  const std::string base = join_path(sysfs_root, "devices/system/cpu");
  Topology topo;
  auto online = read_cpu_list(join_path(base, "online"), err);
  if (!online) return std::nullopt;
  std::string ignored;
  topo.possible = read_cpu_list(join_path(base, "possible"), &ignored).value_or(*online);

  // Siblings of each online cpu: thread_siblings_list, else the cpus sharing
  // (physical_package_id, core_id), else none known.
  std::map<int, std::vector<int>> siblings;
  std::map<std::pair<int64_t, int64_t>, std::vector<int>> by_core_id;
  for (int cpu : *online) {
    const std::string dir = join_path(base, "cpu" + std::to_string(cpu));
    if (read_int(join_path(dir, "online")).value_or(1) == 0) continue;
    const std::string topo_dir = join_path(dir, "topology");
    if (!is_dir(topo_dir)) continue;  // offline, or went offline while we read
    topo.online.push_back(cpu);
    if (auto text = read_file(join_path(topo_dir, "thread_siblings_list"))) {
      auto list = parse_cpu_list(*text);
      if (!list) {
        set_err(err, join_path(topo_dir, "thread_siblings_list") + ": not a cpu list");
        return std::nullopt;
      }
      siblings[cpu] = *list;
      continue;
    }
    auto core_id = read_int(join_path(topo_dir, "core_id"));
    auto package = read_int(join_path(topo_dir, "physical_package_id"));
    if (core_id && package) by_core_id[{*package, *core_id}].push_back(cpu);
  }
  for (auto& [key, cpus] : by_core_id)
    for (int cpu : cpus) siblings[cpu] = cpus;

  // Greedy partition in cpu order, so that inconsistent sibling lists still
  // give each online cpu exactly one core.
  std::set<int> assigned;
  for (int cpu : topo.online) {
    if (assigned.count(cpu)) continue;
    std::vector<int> core{cpu};
    for (int s : siblings[cpu])
      if (s != cpu && contains(topo.online, s) && !assigned.count(s)) core.push_back(s);
    std::sort(core.begin(), core.end());
    assigned.insert(core.begin(), core.end());
    topo.cores.push_back(std::move(core));
  }
  return topo;
}

bool apply_sibling_override(Topology& topo, const std::vector<std::pair<int, int>>& pairs,
                            std::string* err) {
  for (auto [a, b] : pairs) {
    for (int cpu : {a, b}) {
      if (!contains(topo.online, cpu) || !topo.core_of(cpu)) {
        set_err(err, "cpu " + std::to_string(cpu) + " in sibling override is unknown or offline");
        return false;
      }
    }
    if (a == b) {
      set_err(err, "cpu " + std::to_string(a) + " cannot be its own sibling");
      return false;
    }
  }
  // The override is the truth for the cpus it names: take them out of their
  // sysfs cores, then join them along the pairs ((0,1),(1,2) make one core).
  std::map<int, int> group;  // cpu -> representative, a tiny union-find
  auto find = [&](int x) {
    while (group[x] != x) x = group[x];
    return x;
  };
  for (auto [a, b] : pairs) {
    for (int cpu : {a, b}) group.emplace(cpu, cpu);
  }
  for (auto [a, b] : pairs) group[find(a)] = find(b);

  std::map<int, std::vector<int>> merged;
  for (auto& [cpu, rep] : group) merged[find(cpu)].push_back(cpu);
  for (auto& core : topo.cores)
    core.erase(std::remove_if(core.begin(), core.end(), [&](int c) { return group.count(c) > 0; }),
               core.end());
  topo.cores.erase(std::remove_if(topo.cores.begin(), topo.cores.end(),
                                  [](auto& c) { return c.empty(); }),
                   topo.cores.end());
  for (auto& [rep, cpus] : merged) topo.cores.push_back(std::move(cpus));
  std::sort(topo.cores.begin(), topo.cores.end());
  return true;
}

}  // namespace colo
