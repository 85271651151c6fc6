// The big box's allowance (in CPU cores, or any one resource) between the
// colocatable target and LS health: cut at once when LS suffers (fast path),
// grown back step by step only after LS has stayed healthy (slow path). The
// asymmetry is the point: a cut costs BE a little throughput, a late cut
// costs LS its latency target.
#pragma once
#include <limits>
#include <optional>
#include <string>

#include "agent/policy/clock.h"
#include "agent/policy/policy_config.h"

namespace colo::policy {

struct Allowance {
  double amount = 0;     // what the box may use now
  double target = 0;     // the colocatable amount it is following
  bool changed = false;  // amount differs from the previous call's
  std::string reason;
};

class BoxController {
 public:
  explicit BoxController(ControllerConfig cfg, std::string unit = "cores");
  void reconfigure(ControllerConfig cfg) { cfg_ = cfg; }
  // A restarted agent continues from what the box already has (the next tick
  // still caps it at the target).
  void adopt(double amount) { allowance_ = amount; }
  // No growth before `until` (an eviction cooldown); a later call can only
  // extend it.
  void block_growth_until(MonoTime until);
  // Fast path: cut to `to` (default and lowest: floor × target) at once
  // (never raises the allowance), and restart the hold time.
  Allowance clamp_now(const std::string& why, MonoTime now, double to = 0);
  // Fast path, LS demand alone (the CPUs saturated, no LS wait over target):
  // cut as clamp_now, but LS was not hurt, so only demand_hold must pass
  // before growth, and the tick may then return at once to what the box had
  // before the first of such cuts, as far as LS leaves room (tick's `room`).
  Allowance clamp_demand(const std::string& why, MonoTime now, double to);
  // Fast path: the target falls to `target` before the next tick sees it (LS
  // use rose past what the policy leaves BE). What tick() does with a lower
  // target, earlier: the allowance follows it at once (never rises), and
  // the hold is not restarted (LS is not unhealthy, only busier). The next
  // growth step waits a tick interval: a tick right after would still grow
  // towards a target computed before LS rose.
  Allowance lower_now(double target, const std::string& why, MonoTime now);
  // Slow path, every tick: follow a lower target at once; grow by step ×
  // target, at most once per tick interval, after LS has been healthy for the
  // hold time and outside a growth block; never above the target.
  // `room`: what LS (with system) left of the CPUs over the last tick, the
  // limit of a return after demand cuts.
  Allowance tick(double target, bool ls_healthy, MonoTime now,
                 double room = std::numeric_limits<double>::infinity());
  double allowance() const { return allowance_.value_or(0); }

 private:
  Allowance result(double before, std::string reason) const;
  Allowance cut(const std::string& why, double to);

  ControllerConfig cfg_;
  std::string unit_;
  std::optional<double> allowance_;
  double target_ = 0;
  std::optional<MonoTime> disturbed_;  // last urgent clamp or unhealthy tick (or the first tick)
  std::optional<MonoTime> demand_cut_;  // last clamp for LS demand alone
  std::optional<double> return_to_;     // what the box had before the demand cuts
  std::optional<MonoTime> last_step_;
  std::optional<MonoTime> blocked_until_;
};

}  // namespace colo::policy
