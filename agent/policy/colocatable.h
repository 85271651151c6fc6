// How much CPU and memory BE may use on this node: the "colocatable" amount,
// from the node's LS and system use (dynamic), a fixed amount (static) or
// nothing (off), scaled by the time window in force. Pure logic: the caller
// feeds samples and the time; nothing here reads a file or a clock.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "agent/policy/clock.h"
#include "agent/policy/policy_config.h"

namespace colo::policy {

// One observation of the node. Values are rates or sizes, not counters.
struct NodeSample {
  MonoTime at{};
  double capacity_cpu_cores = 0;
  uint64_t capacity_memory_bytes = 0;
  double ls_cpu_cores = 0;  // CPU rate over the last interval
  double system_cpu_cores = 0;
  uint64_t ls_memory_bytes = 0;
  uint64_t system_memory_bytes = 0;
  double be_cpu_cores = 0;  // BE use: reported, not used in the decision
  uint64_t be_memory_bytes = 0;
};

enum class Phase {
  Normal,  // following the policy
  Frozen,  // the level drops within stop_growing_before: no growth
  Grace,   // the level dropped: shrinking linearly over grace_period
  Stale,   // no usable sample for stale_after: zero
  Off,     // mode off, or level off after the grace period: zero
};
const char* phase_name(Phase p);  // "normal" | "frozen" | "grace" | "stale" | "off"

struct Colocatable {
  double cpu_cores = 0;
  uint64_t memory_bytes = 0;
  std::string mode;         // mode_name()
  int window = -1;          // index into PolicyConfig::windows; -1 outside every window
  std::string window_name;  // "" outside every window
  double level = 1.0;       // fraction granted by the level in force
  Phase phase = Phase::Stale;
  std::string reason;  // e.g. "dynamic: cpu 16 x 0.70 - LS 5.20 - system 1.00 = 9.80 cores; …"
  double be_cpu_cores = 0;  // from the sample in use, for reporting
  uint64_t be_memory_bytes = 0;
  // The adaptive hold of the peak changed in this update ("500ms -> 1s"),
  // and why; both "" otherwise.
  std::string hold_change, hold_change_why;
};

// The level at a minute of the week (0 = Monday 00:00), and the window that
// set it (-1: the default level).
struct LevelAt {
  double fraction = 1.0;
  int window = -1;
};
LevelAt level_at(const PolicyConfig& cfg, int minute_of_week);

class ColocatablePolicy {
 public:
  explicit ColocatablePolicy(PolicyConfig cfg);
  // A reload: smoothing, grace and the last output carry over.
  void reconfigure(PolicyConfig cfg);
  // What the box already has, for an agent that adopts it: the dynamic
  // amount grows from here (falls stay immediate) instead of from zero, so
  // a restart does not cut BE and make it climb back. Only before the first
  // sample; nullopt leaves that resource growing from zero (an unlimited
  // box is never trusted as a starting point).
  void seed(std::optional<double> cpu_cores, std::optional<double> memory_bytes);
  // Records a sample. Samples with no capacity or with negative or non-finite
  // values are dropped (they count as missing); so are out-of-order ones.
  void observe(const NodeSample& s);
  // The amount now. Call it regularly (every sample or tick): smoothing and
  // the grace ramp advance with the monotonic time between calls.
  Colocatable update(MonoTime now, WallTime wall);
  Colocatable update(const Clock& c) { return update(c.now_mono(), c.now_wall()); }
  // The dynamic CPU amount if LS and the system used these cores now, at the
  // level of the last update: what the next update falls to at once when a
  // sample shows this use (falls are never smoothed). Nothing for the other
  // modes (their amount does not follow LS use) or before the first sample.
  std::optional<double> cpu_if_used(double ls_cores, double system_cores) const;

 private:
  struct Amount {
    double cpu = 0, mem = 0;
  };
  struct Grace {
    MonoTime start;
    Amount from;
    double level;
  };
  Amount base_amount(MonoTime now, std::string* why);

  PolicyConfig cfg_;
  std::optional<NodeSample> last_;
  std::deque<NodeSample> recent_;      // samples within peak_window of the newest
  Duration adapt_hold(MonoTime now, const NodeSample& newest);
  Amount smoothed_;                    // the dynamic amount after smoothing
  std::optional<MonoTime> last_update_;
  // The adaptive hold of the peak (see PolicyConfig::min_peak_window).
  Duration hold_{0};
  double held_demand_ = -1;             // LS + system CPU peak over hold_ at the last update
  std::optional<MonoTime> released_at_;  // the held peak fell (by more than noise) then
  double released_from_ = 0, released_to_ = 0;
  std::string hold_change_, hold_change_why_;  // set by adapt_hold(), taken by update()
  std::optional<Amount> prev_out_;
  std::optional<double> prev_level_;
  std::optional<Grace> grace_;
};

}  // namespace colo::policy
