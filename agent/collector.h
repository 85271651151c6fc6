// Turns the kernel's maps and the cgroup files into one Snapshot per interval:
// per-cgroup signals keyed by the cgroup's path relative to its hierarchy root.
// Keeps the kernel's class map current (which cgroups are be/system).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/config.h"
#include "colo_abi.h"
#include "userspace/bpf/programs.h"
#include "userspace/cgroup/index.h"
#include "userspace/cgroup/layout.h"
#include "userspace/topology/topology.h"
#include "userspace/util/parse.h"

namespace colo {

const char* class_name(uint32_t cls);

struct AggressorCount {
  std::string path;
  std::string cls;
  uint64_t count = 0;
};

struct CgroupSignals {
  std::string cls = "ls";
  bool has_sched = false;
  std::array<uint64_t, COLO_HIST_SLOTS> rq_slots{};
  uint64_t rq_count = 0;
  uint64_t rq_sum_ns = 0;
  std::array<uint64_t, COLO_CLASS_MAX> preempted_by{};
  std::array<uint64_t, COLO_CLASS_MAX> smt_ns{};
  uint64_t run_ns = 0;
  uint64_t urgent_events = 0;
  std::vector<AggressorCount> top_aggressors;  // most preemptions first, at most 3
  bool has_mem = false;
  colo_cg_mem mem{};
  std::optional<Psi> psi_cpu, psi_memory, psi_io;
  struct Tx {
    uint64_t bytes = 0, packets = 0;
  };
  std::map<std::string, Tx> tx;  // by interface
};

struct Snapshot {
  uint64_t mono_ns = 0;                    // CLOCK_MONOTONIC when taken
  bool bpf_active = false;
  std::string attach_mode = "none";
  std::map<std::string, CgroupSignals> cgroups;
  std::array<uint64_t, COLO_CLASS_MAX> class_ns{};
  std::array<uint64_t, COLO_DROP_MAX> drops{};
  std::vector<bpf::ProgStats> progs;
  size_t tracked_cgroups = 0;
};

const char* drop_source_name(int idx);

// Growth of a cumulative ns counter between two readings, in seconds (never
// negative: a counter that went back, e.g. a recreated cgroup, grew by 0).
inline double grown_s(uint64_t now, uint64_t before) {
  return now > before ? (now - before) * 1e-9 : 0;
}

// Reclaim stall of each LS cgroup between two snapshots, in seconds: global
// direct reclaim and memcg reclaim from the kernel's counters when BPF is
// active; without BPF, the cgroup's memory PSI "some" stall time (v2 or the
// unified mirror of a hybrid host), as memcg stall, since PSI does not tell
// the two apart. The root ("/") is left out: its PSI is the whole node's.
struct LsReclaimStall {
  double direct_s = 0, memcg_s = 0;
};
std::map<std::string, LsReclaimStall> ls_reclaim_stall(const Snapshot& prev, const Snapshot& cur);

// How much cgroupfs each collection reads. With 1,000 cgroups in each of two
// hierarchies, walking them and reading every cgroup's three PSI files at
// every collection cost the agent 14% of a CPU on this project's 2-vCPU VM
// against 2% without them (tests/bench/RESULTS.md).
struct CollectorOptions {
  // The kernel side's count of cgroups created, removed or renamed (any
  // hierarchy). Set: the hierarchies are walked again only when it moved
  // (read before the walk: a change during one brings another), and at least
  // every `walk_every` collections (a missed event is repaired within that).
  // Unset: at every collection.
  std::function<uint32_t()> tree_gen;
  unsigned walk_every = 10;
  // Cgroups whose PSI files are read per collection, in turn (PSI totals are
  // cumulative, so a cgroup read later loses nothing; the others keep their
  // last reading). 0: every cgroup at every collection, as without BPF, where
  // the LS cgroups' memory PSI is the reclaim-stall signal of each window.
  size_t psi_per_collect = 0;
  // Each BPF program's run time and runs (the agent's sampled totals,
  // agent/stats_sampler.h). Unset: the kernel's own counts.
  std::function<std::vector<bpf::ProgStats>()> prog_stats;
};

class Collector {
 public:
  // `programs` may be null: cgroupfs-only mode.
  Collector(const Config& cfg, CgroupLayout layout, Topology topo, bpf::Programs* programs,
            CollectorOptions opts = {});
  // Rescans cgroups, refreshes the class map, reads everything. Never throws.
  Snapshot collect();
  // Class of a path relative to the hierarchy root, by the configured box
  // (with its per-controller paths) and slices.
  std::string classify(const std::string& rel_path) const;
  const CgroupLayout& layout() const { return layout_; }

 private:
  void sync_classes();
  void read_psi(Snapshot* s);

  Config cfg_;
  CgroupLayout layout_;
  Topology topo_;
  bpf::Programs* programs_;
  const Hierarchy* cpu_h_ = nullptr;
  const Hierarchy* mem_h_ = nullptr;
  const Hierarchy* v2_h_ = nullptr;
  std::unique_ptr<CgroupIndex> cpu_idx_, mem_idx_, v2_idx_;
  CollectorOptions opts_;
  std::optional<uint32_t> walked_gen_;  // tree_gen when the hierarchies were last walked
  unsigned since_walk_ = 0;             // collections since
  // PSI of the v2 cgroups, by path, as last read; where the next turn starts.
  struct PsiReading {
    std::optional<Psi> cpu, memory, io;
  };
  std::unordered_map<std::string, PsiReading> psi_;
  std::optional<uint64_t> psi_next_;
  std::map<std::pair<uint64_t, uint32_t>, uint32_t> pushed_classes_;
  bool gc_done_ = false;
  std::unordered_map<uint64_t, uint64_t> last_run_ns_;  // by cpu-hierarchy cgroup id
  // preempted_by as last reported, by cpu-hierarchy cgroup id
  std::unordered_map<uint64_t, std::array<uint64_t, COLO_CLASS_MAX>> last_preempted_;
  std::optional<std::array<uint64_t, COLO_DROP_MAX>> drops_base_;  // at the first read
  std::array<bool, COLO_DROP_MAX> drop_logged_{};
  std::unordered_set<uint64_t> aggr_unknown_;  // ids of colo_aggr missing at the last scan
};

}  // namespace colo
