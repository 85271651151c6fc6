// Which CPUs the big box gets: whole physical cores when it can (a BE thread
// on an LS core's sibling slows the LS thread), the cores LS is busiest on
// taken back first, never empty. Without SMT, ceil(allowance) CPUs, and
// more while what LS leaves idle on them covers less than a fraction
// (`cover`) of the allowance (LS spread thinly over every CPU leaves none to
// itself: a box of ceil(allowance) CPUs would get only what LS left on
// those, less than its quota; but every CPU added is one more where BE
// sits beside LS under a quota, which costs LS tail latency); on SMT,
// ceil(allowance) threads, so that the other cores' siblings stay free of BE.
#pragma once
#include <map>
#include <vector>

#include "userspace/topology/topology.h"

namespace colo {

// `allowance_cores`: CPU the box may use (its quota). `ls_busy`: recent LS
// utilisation per CPU in [0,1] (missing = 0). `current`: the box's CPUs now;
// a set smaller than it must leave BE a quarter more than the allowance, so
// that LS use wavering around the allowance does not move the box's tasks
// at every tick. `cover` (0, 1]: the CPUs beyond ceil(allowance) are added
// only while what LS leaves on the chosen ones is under cover x the
// allowance (1: until it covers it all). Returns a sorted CPU list with at
// least `min_cpus` CPUs (and at least one), at most all online CPUs.
std::vector<int> choose_box_cpus(const Topology& topo, double allowance_cores,
                                 const std::map<int, double>& ls_busy, int min_cpus = 1,
                                 const std::vector<int>& current = {}, double cover = 1.0);

}  // namespace colo
