// Which CPUs the big box gets: whole physical cores when it can (a BE thread
// on an LS core's sibling slows the LS thread), the cores LS is busiest on
// taken back first, never empty.
#pragma once
#include <map>
#include <vector>

#include "userspace/topology/topology.h"

namespace colo {

// `allowance_cores`: CPU the box may use (its quota). `ls_busy`: recent LS
// utilisation per CPU in [0,1] (missing = 0). Returns a sorted CPU list with at
// least `min_cpus` CPUs (and at least one), at most all online CPUs.
std::vector<int> choose_box_cpus(const Topology& topo, double allowance_cores,
                                 const std::map<int, double>& ls_busy, int min_cpus = 1);

}  // namespace colo
