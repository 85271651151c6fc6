// colo's BPF programs as one RAII object: open, set knobs, load (tp_btf, or
// its raw_tp twin when BTF tracepoints do not work), attach, read maps, detach.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "colo_abi.h"
#include "userspace/cgroup/layout.h"

namespace colo::bpf {

enum class AttachMode { Auto, TpBtf, RawTp };
const char* attach_mode_name(AttachMode m);
std::optional<AttachMode> parse_attach_mode(const std::string& s);

// Where run-queue waits come from. SchedInfo: the kernel's own per-task
// bookkeeping (sched_info.last_queued, CONFIG_SCHED_INFO), read at
// sched_switch alone, no wakeup program; Wakeup: colo's timestamp at
// sched_wakeup/sched_wakeup_new and at preemption, read at switch-in. Auto:
// SchedInfo where the kernel has it (schedinfo_support), else Wakeup.
enum class WaitSource { Auto, SchedInfo, Wakeup };
const char* wait_source_name(WaitSource w);
std::optional<WaitSource> parse_wait_source(const std::string& s);
// Whether the kernel described by the BTF file `btf_path` keeps the queue
// time a switch-in can read (see WaitSource): "" when it does, else why not.
// `release` is the kernel's (uname -r): before 5.14 sched_info ran only with
// schedstats or delay accounting on.
std::string schedinfo_unsupported(const std::string& btf_path, const std::string& release);

struct LoadOptions {
  std::string pin_dir = "/sys/fs/bpf/colo";
  AttachMode mode = AttachMode::Auto;
  bool cpu_on_v1 = false;         // the cpu controller is on a v1 hierarchy
  uint32_t cpu_hierarchy = 0;     // its hierarchy id (0 = v2)
  bool mem_on_v1 = false;
  uint32_t mem_hierarchy = 0;
  // SMT sibling per CPU index (-1: none). Empty: no SMT accounting.
  std::vector<int> sibling_of;
  uint64_t urgent_threshold_ns = COLO_DEFAULT_URGENT_NS;
  uint64_t urgent_interval_ns = COLO_DEFAULT_URGENT_INTERVAL_NS;
  // The loading process's own threads raise no urgent events (the agent: its
  // waits are measured, but it is not the LS it protects).
  bool quiet_self = false;
  uint32_t max_cgroups = 8192;    // size of the per-cgroup maps
  uint32_t ringbuf_bytes = 256 * 1024;  // urgent-event ring buffer (a power of 2, >= a page)
  // BTF for CO-RE relocations when the kernel has none at /sys/kernel/btf/vmlinux
  // (e.g. a BTFHub file); "" = the kernel's. tp_btf needs the kernel's own.
  std::string btf_path;
  WaitSource wait_source = WaitSource::Auto;
  // Set by the loader from the kernel's BTF (switch_passes_prev_state).
  bool switch_prev_state = false;
  bool load_mem = true;
  bool load_net = true;
  // Enable the kernel's BPF run-time stats while loaded (what
  // colo_bpf_prog_run_seconds_total reads; each program run then reads the
  // clock twice). false: benchmarks that measure what they cost.
  bool run_time_stats = true;
};

// Sets lo's cpu_/mem_ hierarchy fields from the host's cgroup layout (v1
// hierarchy ids where those controllers are on v1, else v2), as the agent
// loads the programs.
void set_cgroup_hierarchies(const CgroupLayout& layout, LoadOptions* lo);

struct ProgStats {
  std::string name;
  uint64_t run_time_ns = 0;
  uint64_t run_cnt = 0;
};

struct NetKeyLess {
  bool operator()(const colo_net_key& a, const colo_net_key& b) const {
    return a.cgid != b.cgid ? a.cgid < b.cgid : a.ifindex < b.ifindex;
  }
};
using NetCounters = std::map<colo_net_key, colo_net_val, NetKeyLess>;

// Whether this kernel's mark_victim tracepoint passes the victim's task_struct
// (6.6+; a pid before), from its BTF: the OOM programs load only then.
bool mark_victim_passes_task();

// Whether the kernel described by the BTF file at `btf_path` passes prev's
// state to the sched_switch tracepoint (5.18+): the switch program then
// tells a preempted task from one that blocked without reading the task.
// false when it does not, or the file cannot be read.
bool switch_passes_prev_state(const std::string& btf_path);

// Makes sure bpffs is mounted at `dir`'s filesystem (mounts /sys/fs/bpf if
// needed) and tracefs at /sys/kernel/tracing; creates `dir`. false + *err.
bool ensure_mounts(const std::string& pin_dir, std::string* err);
// Removes colo's pinned maps from `pin_dir` (and the directory if empty).
// Returns how many were removed; *err on failure.
int cleanup_pins(const std::string& pin_dir, std::string* err);

// Adds the run-queue samples staged on one CPU (used[0..n) with their
// counts, and the pending sample) to their cgroups' histograms and sums. An entry torn by a CPU
// writing it while it was read adds only the slots that are in range.
void add_staged(const colo_rq_stage& sg, std::unordered_map<uint64_t, colo_cg_sched>* out);

// Preemptions a CPU has batched and not yet added to the maps
// (colo_cpu_state.pre_*, map colo_cpu): per victim cgroup by the aggressor's class, and per
// victim and aggressor cgroup pair. Readers add them to what the maps say.
struct PendingPreemptions {
  std::unordered_map<uint64_t, std::array<uint64_t, COLO_CLASS_MAX>> by_victim;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, uint64_t>> pairs;
};
void add_pending_preemptions(const colo_cpu_state& cs, PendingPreemptions* out);

class Programs {
 public:
  ~Programs();
  Programs(const Programs&) = delete;
  Programs& operator=(const Programs&) = delete;

  // Loads and attaches everything. nullptr + *err when BPF is unusable here.
  static std::unique_ptr<Programs> load(const LoadOptions& opts, std::string* err);

  AttachMode mode() const { return mode_; }
  // SchedInfo or Wakeup: what the loaded programs use.
  WaitSource wait_source() const { return wait_source_; }

  // Readers: snapshots of the maps (cumulative counters).
  bool read_sched(std::unordered_map<uint64_t, colo_cg_sched>* out) const;
  bool read_mem(std::unordered_map<uint64_t, colo_cg_mem>* out) const;
  bool read_net(NetCounters* out) const;  // summed over CPUs
  // Each CPU's state (colo_cpu), its CPU time by class (class_ns) among it.
  std::vector<colo_cpu_state> read_cpus() const;
  // read_cpus() and read_rq_stages() read the maps' mmap'ed values (no
  // syscall); false: by lookups (the maps could not be mapped).
  bool per_cpu_state_mapped() const;
  // Run-queue samples staged per CPU, not yet in read_sched's histograms.
  std::vector<colo_rq_stage> read_rq_stages() const;
  std::array<uint64_t, COLO_DROP_MAX> read_drops() const;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, uint64_t>> read_aggressors() const;
  std::vector<ProgStats> prog_stats() const;
  // Cgroups created, removed or renamed since load (any hierarchy), as the
  // kernel side counts them: the hierarchies need walking again only when
  // it moved.
  uint32_t cgroup_tree_gen() const;

  // Class map upkeep (the kernel side learns be/system cgroups from it).
  int set_class(uint64_t cgid, uint32_t hierarchy, uint32_t cls);
  int clear_class(uint64_t cgid, uint32_t hierarchy);
  std::vector<std::pair<colo_class_key, uint32_t>> read_classes() const;
  // Deletes per-cgroup entries whose id is not in `live` (cgroups removed while
  // colo was not watching). Returns how many.
  size_t gc_sched(const std::function<bool(uint64_t)>& live);
  size_t gc_mem(const std::function<bool(uint64_t)>& live);
  size_t gc_net(const std::function<bool(uint64_t)>& live);
  // Aggressor pairs whose victim or aggressor is not live (0, idle, always is).
  size_t gc_aggr(const std::function<bool(uint64_t)>& live);

  void set_urgent(uint64_t threshold_ns, uint64_t interval_ns);
  // Turns the kernel's BPF run-time stats on or off (see
  // LoadOptions::run_time_stats); false if turning them on failed.
  bool set_run_time_stats(bool on);
  bool run_time_stats() const;

  // Urgent events: polls the ring buffers up to timeout_ms; calls `cb` per
  // urgent event and `be_running` per BE wake (see want_be_wake). Returns
  // records handled or -errno (-ENOTSUP: no ring buffer, returns at once).
  int poll_events(int timeout_ms, const std::function<void(const colo_urgent_event&)>& cb,
                  const std::function<void()>& be_running = {});
  // Whether the next BE task to get a CPU (or to be moved into the box while
  // it runs) sends one BE wake to poll_events: on while the fast path sleeps.
  // The kernel clears it when it sends one. False: not to be had (no ring
  // buffer), BE's start is then seen by sampling only.
  bool want_be_wake(bool on);

  // clsact egress counting on an interface of the agent's network namespace.
  bool attach_egress(const std::string& ifname, std::string* err);
  // Removes colo's filter (and the clsact colo created) from an interface.
  void detach_egress(const std::string& ifname);
  std::vector<std::string> egress_interfaces() const;
  // Egress limiting (see COLO_HTB_* in colo_abi.h): classify BE packets into
  // colo's HTB on `ifindex` or stop doing so; a BE cgroup's own HTB leaf.
  int set_net_shaped(uint32_t ifindex, bool on);
  int set_net_cgroup_leaf(uint64_t v2_cgid, uint32_t minor);
  int clear_net_cgroup_leaf(uint64_t v2_cgid);
  // Bytes and packets sent on `ifindex` by sockets of class `cls`, all CPUs.
  colo_net_val read_net_class(uint32_t ifindex, uint32_t cls) const;

 private:
  Programs() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  AttachMode mode_ = AttachMode::Auto;
  WaitSource wait_source_ = WaitSource::Wakeup;
};

}  // namespace colo::bpf
