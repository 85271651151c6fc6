// Which BE tasks to evict when the node is under pressure. Eviction is the
// backstop behind the box limits: it fires on watermarks with a release level
// below them, evicts only as many tasks as the estimate says are needed, and
// then waits (cooldown, burst limit) to see the effect before acting again.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/clock.h"
#include "agent/policy/policy_config.h"

namespace colo::policy {

enum class EvictReason { Memory, CpuSatisfaction, LsLatency, Disk };
// "memory" | "cpu_satisfaction" | "ls_latency" | "disk": the `reason` label.
const char* reason_name(EvictReason r);
// Every reason, to pre-set colo_evictions_total{reason} to zero.
const std::vector<EvictReason>& all_reasons();

struct DiskUsage {
  std::string path;  // as configured in eviction.disk
  double used_fraction = 0;
  uint64_t capacity_bytes = 0;  // 0 = unknown: one victim per decision
};

// Signals the caller has; a missing one never triggers (and resets its timer).
struct Pressures {
  std::optional<double> memory_used_fraction;  // node, 0..1
  uint64_t memory_total_bytes = 0;             // to estimate the effect of an eviction
  std::optional<double> be_cpu_satisfaction;   // BE CPU demand met, 0..1
  double be_cpu_cores = 0;                     // BE CPU in use, for the same estimate
  std::optional<double> ls_latency_p99_seconds;
  std::vector<DiskUsage> disks;
};

struct Candidate {
  std::string id;     // job cgroup path or pid
  int priority = 0;   // lower is evicted first
  uint64_t memory_bytes = 0;
  double cpu_cores = 0;
  uint64_t disk_bytes = 0;  // 0 = unknown
  MonoTime started{};       // only compared between candidates: youngest go first
};

struct Victim {
  std::string id;
  EvictReason reason;
  std::string explanation;
};

struct EvictionDecision {
  std::vector<Victim> victims;  // in eviction order; empty when nothing to do
  bool dry_run = false;         // victims are would-evicts: log them, touch nothing
  std::optional<MonoTime> cooldown_until;  // set while a cooldown runs (box must not grow)
  int evictions_in_window = 0;             // in the current burst window, these included
  std::string summary;
};

class EvictionPolicy {
 public:
  explicit EvictionPolicy(EvictionConfig cfg) : cfg_(std::move(cfg)) {}
  void reconfigure(EvictionConfig cfg) { cfg_ = std::move(cfg); }
  // Decides and records the decision (cooldown, burst) as if carried out; a
  // dry run records it too, so its log shows what a real run would do.
  EvictionDecision decide(const Pressures& p, const std::vector<Candidate>& candidates,
                          MonoTime now);
  // The same, with the candidates listed only when a victim is to be chosen
  // (a signal past its trigger, no cooldown, room in the burst): listing
  // them reads every BE cgroup and task, which most ticks need not do.
  EvictionDecision decide(const Pressures& p,
                          const std::function<std::vector<Candidate>()>& list_candidates,
                          MonoTime now);
  std::optional<MonoTime> cooldown_until(MonoTime now) const;

 private:
  struct SignalState {
    std::optional<MonoTime> beyond_since;  // past the trigger since
    bool active = false;                   // triggered and not yet released
  };
  bool track(SignalState& st, const Watermark& w, std::optional<double> value, bool low_worse,
             MonoTime now);

  EvictionConfig cfg_;
  SignalState memory_, cpu_, latency_;
  std::map<std::string, SignalState> disks_;
  std::optional<MonoTime> cooldown_until_;
  std::deque<MonoTime> recent_;  // eviction times within the burst window
};

}  // namespace colo::policy
