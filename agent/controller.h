// The control loop on the big box. Fast path (milliseconds): an urgent kernel
// event, or LS CPU demand jumping, clamps the box's CPU quota at once. Slow
// path (every controller.tick): the colocatable amount from the policy, grown
// back step by step while LS stays healthy; cpuset and memory limit follow.
// Thread-safe: the fast path runs on the event thread, the slow path on main.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/collector.h"
#include "agent/config.h"
#include "agent/policy/colocatable.h"
#include "agent/policy/eviction.h"
#include "agent/policy/hysteresis.h"
#include "userspace/cgroup/bigbox.h"
#include "userspace/topology/topology.h"
#include "userspace/util/fs.h"

namespace colo {

// Per-class CPU time, cumulative ns (the kernel's colo_cpu class_ns summed), and
// per-CPU LS time for the cpuset choice.
struct ClassTimes {
  uint64_t mono_ns = 0;  // when read
  uint64_t ls_ns = 0, be_ns = 0, system_ns = 0;
  std::map<int, uint64_t> ls_ns_by_cpu;
};

// Kubernetes mode: BE pods are the eviction candidates (id "namespace/name")
// and are evicted through the API, not signalled. evict() only queues: it is
// called under the controller's lock.
class PodEvictionHook {
 public:
  virtual ~PodEvictionHook() = default;
  virtual std::vector<policy::Candidate> candidates() = 0;
  virtual bool evict(const std::string& id, const std::string& reason) = 0;
};

class Controller : public prometheus::Collectable {
 public:
  Controller(const Config& cfg, BigBox box, Topology topo, const policy::Clock& clock);

  // Fast path. `kernel_ts_ns`: bpf_ktime_get_ns() of the event (CLOCK_MONOTONIC).
  // An LS task waited longer than bpf.urgent_latency. Only a wait that ended
  // with BE giving up the CPU (`be_in_way`) is BE's doing: it cuts the box
  // and holds its growth; others (LS behind LS, a slow wake-up of an idle
  // CPU, a VM's stolen time) are counted and left alone.
  void on_urgent(uint64_t kernel_ts_ns, const std::string& why, bool be_in_way = true);
  // Was BE in the way of a wait that ended by taking the CPU from a task of
  // class `after_cls`? Yes when it ended by BE giving up the CPU, unless the
  // wait began behind LS or system work (`queued_cls`: the class that took
  // the CPU of a preempted task, or ran on the CPU a task was woken onto;
  // COLO_CLASS_MAX: not known): a task that queued behind LS on one CPU and
  // was later pulled to a CPU BE was using waited for LS, not for BE.
  static bool be_in_way(uint32_t after_cls, uint32_t queued_cls);
  // Fast path: called every few ms with fresh class times.
  void on_fast_sample(const ClassTimes& t);
  // Whether the next fast sample can lead to anything: BE used CPU over the
  // fast window (every cut the fast path makes takes from BE, and beside an
  // idle box it makes none that matters now), or a cut the kernel refused
  // waits to be retried, or nothing is known yet. The events thread samples
  // every controller.fast_interval while it is, else every controller.tick:
  // an agent on a node with no BE work running does not wake 500 times a
  // second (measured: 1.5% of a CPU, tests/bench/RESULTS.md). BE that
  // starts is seen at the next such sample, and an LS wait behind it wakes
  // the agent at once (on_urgent) regardless.
  bool fast_path_armed() const;
  // The kernel saw a BE task get a CPU while the fast path slept (a BE
  // wake, at CLOCK_MONOTONIC `mono_ns`): armed for at least two fast
  // windows from then, whatever BE's use over the sample in which it
  // started (a sample that began long before BE did averages it away).
  void on_be_running(uint64_t mono_ns);
  // BE's CPU use over the fast window, in cores, under which BE counts as idle.
  static constexpr double kBeIdleCores = 0.01;
  // Slow path.
  void tick(const ClassTimes& t);
  // The one switch (colo disable/enable). Disabled: the box is held at its
  // minimum; with `evict`, its tasks get SIGTERM.
  void set_enabled(bool on, bool evict);
  bool enabled() const { return enabled_; }
  // SIGTERM: the configured safe state before exit.
  void enter_safe_state();
  void reconfigure(const Config& cfg);
  // The worst LS run-queue p99 over the last collection window (from the
  // signal plane), for the latency eviction watermark.
  void set_ls_latency_p99(std::optional<double> seconds);
  // Once per collection: BE's CPU time and run-queue wait over the window
  // (signal plane); with the box's CFS throttled time this gives BE's CPU
  // satisfaction (demand met, 0..1) for the eviction watermark. Also gives
  // new BE tasks the OOM-first score.
  // `cores_by_cgroup`: each BE cgroup's CPU over the window, by its path in the
  // cpu hierarchy, to estimate what evicting a job gives back.
  void observe_be_cpu(double window_s, double run_s, double runqueue_wait_s,
                      std::map<std::string, double> cores_by_cgroup = {});
  // Once per collection: the reclaim stall of each LS cgroup over the window
  // (by its path in the memory hierarchy). Stall BE shares the cause of is
  // global direct reclaim, and memcg reclaim below a level above the box
  // whose memory limit was hit in the window (a limit over both, as
  // kubepods); an LS cgroup at its own limit is not BE's doing. At least
  // controller.memory_pressure_stall of the window of it lowers the box's
  // memory limit one step (1/8 of what BE holds, at least 64 MiB) below
  // BE's usage, again at each such window; after memory_pressure_hold
  // without one the limit follows the colocatable amount again.
  void observe_ls_reclaim(double window_s, const std::map<std::string, LsReclaimStall>& ls);
  // Kubernetes mode (nullptr: tasks of the box get SIGTERM/SIGKILL).
  void set_pod_eviction(PodEvictionHook* h);

  nlohmann::json status() const;
  // The last colocatable amounts from the policy (what the Node reports).
  policy::Colocatable colocatable() const;
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Applied {
    std::optional<double> quota;
    std::vector<int> cpus;
    std::optional<uint64_t> memory;
  };
  void apply_locked(double cores, const std::string& trigger, uint64_t signal_ns);
  // The cpuset for a box of `quota_cores`: the CPUs LS was least busy on
  // over the last tick (cpuset_choice.h), from the box's CPUs now.
  std::vector<int> box_cpus_locked(double quota_cores) const;
  // A fast-path cut: the quota to `cores` (its reaction timed from
  // `signal_ns`), with controller.fast_cpuset the cpuset the tick would
  // choose for it if that has fewer CPUs, and the decision ("WHAT N cores").
  void cut_locked(const std::string& what, double cores, const std::string& trigger,
                  uint64_t signal_ns, const std::string& reason);
  void decide_locked(const std::string& what, const std::string& reason);
  // A cut the kernel refused (a failed quota write): the quota applied is
  // above what apply_locked() would write for the allowance.
  bool cut_pending_locked() const;
  void observe_reaction_locked(const std::string& trigger, double seconds);
  // Node memory (MemTotal, MemAvailable) as this tick read it.
  void evict_locked(policy::MonoTime now, std::pair<uint64_t, uint64_t> meminfo);
  double capacity_cores() const;

  mutable std::mutex mu_;
  KeptFile meminfo_{"/proc/meminfo"};  // read at every tick
  Config cfg_;
  BigBox box_;
  Topology topo_;
  const policy::Clock& clock_;
  policy::ColocatablePolicy policy_;
  policy::BoxController cpu_ctl_;
  policy::EvictionPolicy eviction_;
  std::optional<double> ls_p99_;
  PodEvictionHook* pod_eviction_ = nullptr;
  // Evicted tasks that got SIGTERM: SIGKILL after the grace if still in the box.
  std::map<pid_t, policy::MonoTime> terminating_;
  std::map<std::string, policy::MonoTime> terminating_jobs_;  // job name -> SIGKILL time
  std::optional<double> be_satisfaction_;
  struct BeCpuWindow {
    double window_s, run_s, wait_s, throttled_s;
  };
  static constexpr double kSatisfactionSpanS = 2.0;
  std::deque<BeCpuWindow> be_demand_;
  double be_cpu_cores_ = 0;
  std::map<std::string, double> be_cores_by_cgroup_;
  std::optional<uint64_t> last_throttled_ns_;
  // Memory pressure: the cap on the box's memory limit while it lasts.
  std::optional<uint64_t> mem_pressure_cap_;
  std::optional<policy::MonoTime> mem_pressure_until_;
  std::string mem_pressure_why_;
  bool mem_pressure_step_ = false;  // a new pressured window: lower the cap once
  std::optional<std::map<std::string, uint64_t>> limit_hits_;  // the box's ancestors' last counts
  policy::Colocatable last_colocatable_{};
  Applied applied_;
  // LS use per CPU over the last tick, 0..1 (the cpuset choice's input; the
  // fast path's too, between ticks).
  std::map<int, double> tick_busy_;
  std::atomic<bool> enabled_{true};
  std::optional<ClassTimes> prev_tick_, prev_fast_;
  struct FastSample {
    uint64_t start_ns, end_ns;  // CLOCK_MONOTONIC
    double ls_cores, sys_cores;  // LS and system CPU over [start, end)
    double be_cores;             // BE CPU over [start, end)
    double cores() const { return ls_cores + sys_cores; }
  };
  std::deque<FastSample> fast_ls_;
  bool fast_armed_ = true;      // see fast_path_armed()
  uint64_t fast_samples_ = 0;   // on_fast_sample calls (status)
  uint64_t be_wakes_ = 0;       // on_be_running calls (status)
  uint64_t armed_until_ns_ = 0; // by the last BE wake
  uint64_t urgent_since_tick_ = 0;
  std::deque<nlohmann::json> decisions_;
  // colo_control_reaction_seconds{trigger}: bucket counts per trigger.
  struct Hist {
    std::vector<uint64_t> counts;
    uint64_t n = 0;
    double sum = 0;
  };
  std::map<std::string, Hist> reactions_;
  std::map<std::string, uint64_t> evictions_;  // by reason
};

// MemTotal and MemAvailable from /proc/meminfo (through `f` if given), bytes;
// {0, 0} if it cannot be read.
std::pair<uint64_t, uint64_t> read_meminfo(KeptFile* f = nullptr);

}  // namespace colo
