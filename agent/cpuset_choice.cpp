#include "agent/cpuset_choice.h"

#include <algorithm>
#include <cmath>

namespace colo {

std::vector<int> choose_box_cpus(const Topology& topo, double allowance_cores,
                                 const std::map<int, double>& ls_busy, int min_cpus,
                                 const std::vector<int>& current, double cover) {
  std::vector<std::vector<int>> cores = topo.cores;
  if (cores.empty())
    for (int c : topo.online) cores.push_back({c});
  if (cores.empty()) return {0};
  auto busy_of = [&](int cpu) {
    auto it = ls_busy.find(cpu);
    return it == ls_busy.end() ? 0.0 : std::clamp(it->second, 0.0, 1.0);
  };
  auto busy = [&](const std::vector<int>& core) {
    double b = 0;
    for (int c : core) b += busy_of(c);
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
  const double allowance = std::max(0.0, allowance_cores);
  size_t want = static_cast<size_t>(std::ceil(allowance - 1e-9));
  want = std::clamp<size_t>(std::max<size_t>(want, std::max(min_cpus, 1)), 1, total);
  std::vector<int> out;
  double idle = 0;  // what LS leaves on the CPUs taken so far
  for (auto& core : cores) {
    if (out.size() >= want) {
      const double need =
          std::clamp(cover, 0.0, 1.0) * (out.size() < current.size() ? 1.25 * allowance : allowance);
      if (idle >= need - 1e-9) break;
    }
    out.insert(out.end(), core.begin(), core.end());  // whole cores
    // On SMT a core LS is busy on is kept free of BE on purpose (BE on its
    // sibling slows the LS thread): there the box gets ceil(allowance)
    // threads and what LS leaves on them, as before. A CPU without a
    // sibling shares nothing but its own time.
    idle += static_cast<double>(core.size()) - (core.size() == 1 ? busy(core) : 0.0);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace colo
