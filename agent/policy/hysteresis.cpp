#include "agent/policy/hysteresis.h"

#include <algorithm>
#include <cmath>

#include "agent/policy/format.h"

namespace colo::policy {

BoxController::BoxController(ControllerConfig cfg, std::string unit)
    : cfg_(cfg), unit_(std::move(unit)) {}

void BoxController::block_growth_until(MonoTime until) {
  if (!blocked_until_ || until > *blocked_until_) blocked_until_ = until;
}

Allowance BoxController::result(double before, std::string reason) const {
  Allowance a;
  a.amount = allowance();
  a.target = target_;
  a.changed = a.amount != before;
  a.reason = std::move(reason);
  return a;
}

Allowance BoxController::clamp_now(const std::string& why, MonoTime now, double to) {
  disturbed_ = now;
  return_to_.reset();  // LS was hurt: earn it all back, step by step
  return cut(why, to);
}

Allowance BoxController::clamp_demand(const std::string& why, MonoTime now, double to) {
  const double before = allowance();
  Allowance a = cut(why, to);
  if (a.changed) {
    demand_cut_ = now;
    // Since an urgent clamp (or the start), the box earned `before` with LS
    // healthy; a series of demand cuts returns to the first one's level.
    if (!return_to_) return_to_ = before;
  }
  return a;
}

Allowance BoxController::cut(const std::string& why, double to) {
  const double before = allowance();
  const double floor = cfg_.floor * target_;
  const double cut = std::max(floor, std::isfinite(to) ? to : 0.0);
  if (before <= cut + 0.01 * std::max(target_, 1.0)) {  // within 1%: no news
    allowance_ = before;
    return result(before, fmt("clamp (%s): already at %.2f %s, floor %.2f", why.c_str(), before,
                              unit_.c_str(), floor));
  }
  allowance_ = cut;
  if (cut > floor)
    return result(before, fmt("clamp (%s): %.2f -> %.2f %s", why.c_str(), before, cut,
                              unit_.c_str()));
  return result(before, fmt("clamp (%s): %.2f -> %.2f %s (floor %.2f x target %.2f)", why.c_str(),
                            before, floor, unit_.c_str(), cfg_.floor, target_));
}

Allowance BoxController::lower_now(double target, const std::string& why, MonoTime now) {
  const double before = allowance();
  const double to = std::isfinite(target) ? std::max(target, 0.0) : 0.0;
  if (before <= to) return result(before, fmt("%s: already at %.2f %s", why.c_str(), before, unit_.c_str()));
  allowance_ = to;
  last_step_ = now;
  return result(before, fmt("target falls (%s): %.2f -> %.2f %s", why.c_str(), before, to,
                            unit_.c_str()));
}

Allowance BoxController::tick(double target, bool ls_healthy, MonoTime now, double room) {
  target_ = std::isfinite(target) && target > 0 ? target : 0;
  if (!allowance_) {
    // Start low and earn the rest like after a clamp: the agent has not yet
    // seen how LS behaves with BE next to it.
    allowance_ = cfg_.floor * target_;
    disturbed_ = now;
    return result(-1, fmt("start at the floor: %.2f %s (%.2f x target %.2f)", *allowance_,
                          unit_.c_str(), cfg_.floor, target_));
  }
  const double before = *allowance_;
  if (!disturbed_) disturbed_ = now;
  if (!ls_healthy) {
    disturbed_ = now;
    return_to_.reset();
  }
  if (before > target_) {
    allowance_ = target_;
    return result(before, fmt("target fell: %.2f -> %.2f %s", before, target_, unit_.c_str()));
  }
  if (before >= target_) return result(before, fmt("at target %.2f %s", target_, unit_.c_str()));
  if (!ls_healthy)
    return result(before, fmt("LS unhealthy: holding %.2f %s", before, unit_.c_str()));
  if (blocked_until_ && now < *blocked_until_)
    return result(before, fmt("growth blocked for %s (eviction cooldown): holding %.2f %s",
                              human(*blocked_until_ - now).c_str(), before, unit_.c_str()));
  if (now - *disturbed_ < cfg_.hold)
    return result(before, fmt("LS healthy for %s of %s: holding %.2f %s",
                              human(now - *disturbed_).c_str(), human(cfg_.hold).c_str(), before,
                              unit_.c_str()));
  if (demand_cut_ && now - *demand_cut_ < cfg_.demand_hold)
    return result(before, fmt("%s since a cut for LS demand, of %s: holding %.2f %s",
                              human(now - *demand_cut_).c_str(), human(cfg_.demand_hold).c_str(),
                              before, unit_.c_str()));
  if (last_step_ && now - *last_step_ < cfg_.tick)
    return result(before, fmt("next step in %s", human(cfg_.tick - (now - *last_step_)).c_str()));
  const double step = before + cfg_.step * target_;
  // Back after demand cuts: at once to the level before them, as far as LS
  // leaves room; a step when that is less.
  const double back = return_to_ ? std::min(*return_to_, std::isfinite(room) ? room : *return_to_)
                                 : 0.0;
  allowance_ = std::min(target_, std::max(step, back));
  last_step_ = now;
  std::string how = back > step ? fmt("return: %.2f -> %.2f %s (before the LS demand cuts %.2f, "
                                      "room %.2f; target %.2f)",
                                      before, *allowance_, unit_.c_str(), *return_to_, room, target_)
                                : fmt("grow: %.2f -> %.2f %s (target %.2f)", before, *allowance_,
                                      unit_.c_str(), target_);
  if (return_to_ && *allowance_ >= *return_to_ - 1e-9) return_to_.reset();
  return result(before, std::move(how));
}

}  // namespace colo::policy
