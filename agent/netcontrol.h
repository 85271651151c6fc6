// BE egress limiting: the egress controller. On every configured interface
// colo counts egress per cgroup (TC clsact program) and, with
// network.limit.enabled, puts its HTB at the root so that BE packets (and
// only they) are shaped: the whole box to one rate per interface, optionally
// BE cgroups to ceilings of their own. Every 10 ms it reads the LS bytes the
// kernel counted per interface; when LS egress over the last `window` rises
// above `ls_watermark` the box drops to `low` at once, and it gets `high`
// back once LS stayed below the watermark for `hold`.
// Thread-safe; runs its own 10 ms loop.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/config.h"
#include "userspace/bpf/programs.h"
#include "userspace/net/htb.h"

namespace colo {

// The decision for one interface, from samples of its cumulative LS bytes
// (pure: time comes in with the samples; unit-tested with made-up times).
class EgressPolicy {
 public:
  explicit EgressPolicy(const EgressLimitConfig& cfg) : cfg_(cfg) {}
  void reconfigure(const EgressLimitConfig& cfg) { cfg_ = cfg; }
  // One sample at CLOCK_MONOTONIC `t_ns`. Returns true when limit() changed.
  bool observe(uint64_t t_ns, uint64_t ls_bytes);
  // Forget the history and go back to the high limit (enable, reload).
  void reset();
  uint64_t limit() const { return low_ ? cfg_.low : cfg_.high; }
  bool low() const { return low_; }
  // LS bytes/s over the last window, as of the last sample.
  double ls_rate() const { return ls_rate_; }

 private:
  EgressLimitConfig cfg_;
  std::deque<std::pair<uint64_t, uint64_t>> samples_;  // (t_ns, bytes)
  bool low_ = false;
  uint64_t last_above_ns_ = 0;
  double ls_rate_ = 0;
};

class NetController : public prometheus::Collectable {
 public:
  // `interfaces`: resolved names (no "auto"); `v2_mount`: the cgroup v2
  // hierarchy ("" if none) where BE cgroups' sockets are found.
  NetController(const Config& cfg, bpf::Programs* programs, std::vector<std::string> interfaces,
                std::string v2_mount, bool dry_run);
  ~NetController() override;

  // Attaches the egress program, installs the HTBs, starts the loop.
  void start();
  // colo disable: everything colo attached to the interfaces is removed;
  // colo enable: attached again.
  void set_enabled(bool on);
  bool enabled() const { return enabled_; }
  // SIGHUP: new rates, watermark, window, hold and per-cgroup limits.
  void reconfigure(const Config& cfg);
  nlohmann::json status() const;
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Iface {
    std::string name;
    uint32_t ifindex = 0;
    bool attached = false;
    std::unique_ptr<net::Htb> htb;
    std::optional<EgressPolicy> policy;
    uint64_t applied = 0;                      // bytes/s in the HTB now (0: none)
    std::map<uint32_t, uint64_t> drop_base;    // drops of HTBs removed before, by minor
  };
  void attach_locked();
  void detach_locked();
  void apply_locked(Iface& i, const std::string& why);
  void sync_leaves_locked();
  void loop();
  std::vector<net::CgroupLeaf> leaves_locked() const;
  std::string leaf_cgroup(uint32_t minor) const;

  mutable std::mutex mu_;
  Config cfg_;
  bpf::Programs* programs_;
  std::string v2_mount_;
  bool dry_run_;
  std::vector<Iface> ifaces_;
  std::map<uint64_t, uint32_t> pushed_leaves_;  // v2 cgroup id -> minor
  std::atomic<bool> enabled_{true};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::deque<nlohmann::json> decisions_;
};

}  // namespace colo
