#include "agent/cpuset_choice.h"

#include <algorithm>
#include <cmath>

namespace colo {

std::vector<int> choose_box_cpus(const Topology& topo, double allowance_cores,
                                 const std::map<int, double>& ls_busy, int min_cpus) {
  std::vector<std::vector<int>> cores = topo.cores;
  if (cores.empty())
    for (int c : topo.online) cores.push_back({c});
  if (cores.empty()) return {0};
  auto busy = [&](const std::vector<int>& core) {
    double b = 0;
    for (int c : core) {
      auto it = ls_busy.find(c);
      if (it != ls_busy.end()) b += it->second;
    }
    return b;
  };
  // Least LS-busy cores first; the highest-numbered first among equals, so
  // BE settles away from CPU 0 where the kernel and LS tend to start.
  std::stable_sort(cores.begin(), cores.end(), [&](const auto& a, const auto& b) {
    double ba = busy(a), bb = busy(b);
    if (ba != bb) return ba < bb;
    return a.front() > b.front();
  });
  size_t total = 0;
  for (auto& c : cores) total += c.size();
  size_t want = static_cast<size_t>(std::ceil(std::max(0.0, allowance_cores) - 1e-9));
  want = std::clamp<size_t>(std::max<size_t>(want, std::max(min_cpus, 1)), 1, total);
  std::vector<int> out;
  for (auto& core : cores) {
    if (out.size() >= want) break;
    out.insert(out.end(), core.begin(), core.end());  // whole cores
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace colo
