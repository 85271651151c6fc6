#include "agent/netcontrol.h"

#include <net/if.h>
#include <time.h>

#include <algorithm>
#include <chrono>

#include "userspace/cgroup/index.h"
#include "userspace/util/log.h"
#include "userspace/util/mono.h"

namespace colo {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr auto kPeriod = std::chrono::milliseconds(10);
constexpr int kLeafSyncPeriods = 100;  // BE subcgroups are looked for every second

std::string rate_str(uint64_t bytes_per_s) {
  char b[32];
  snprintf(b, sizeof(b), "%.3g Mbit/s", bytes_per_s * 8 / 1e6);
  return b;
}

}  // namespace

bool EgressPolicy::observe(uint64_t t, uint64_t bytes) {
  samples_.emplace_back(t, bytes);
  // Keep one sample at or before the start of the window.
  while (samples_.size() > 2 && t - samples_[1].first >= cfg_.window_ns) samples_.pop_front();
  const auto& [t0, b0] = samples_.front();
  if (t > t0 && bytes >= b0) ls_rate_ = (bytes - b0) * 1e9 / static_cast<double>(t - t0);
  bool was = low_;
  if (samples_.size() >= 2 && ls_rate_ > static_cast<double>(cfg_.ls_watermark)) {
    low_ = true;
    last_above_ns_ = t;
  } else if (low_ && t - last_above_ns_ >= cfg_.hold_ns) {
    low_ = false;
  }
  return was != low_;
}

void EgressPolicy::reset() {
  samples_.clear();
  low_ = false;
  ls_rate_ = 0;
}

NetController::NetController(const Config& cfg, bpf::Programs* programs,
                             std::vector<std::string> interfaces, std::string v2_mount,
                             bool dry_run)
    : cfg_(cfg), programs_(programs), v2_mount_(std::move(v2_mount)), dry_run_(dry_run) {
  for (auto& n : interfaces) {
    Iface i;
    i.name = n;
    ifaces_.push_back(std::move(i));
  }
}

NetController::~NetController() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> l(mu_);
  detach_locked();
}

std::vector<net::CgroupLeaf> NetController::leaves_locked() const {
  std::vector<net::CgroupLeaf> out;
  for (size_t k = 0; k < cfg_.network.limit.cgroups.size(); k++)
    out.push_back({static_cast<uint32_t>(COLO_HTB_CG_MINOR_BASE + k),
                   cfg_.network.limit.cgroups[k].second});
  return out;
}

std::string NetController::leaf_cgroup(uint32_t minor) const {
  if (minor >= COLO_HTB_CG_MINOR_BASE &&
      minor - COLO_HTB_CG_MINOR_BASE < cfg_.network.limit.cgroups.size())
    return cfg_.network.limit.cgroups[minor - COLO_HTB_CG_MINOR_BASE].first;
  auto it = cfg_.cgroup.bigbox_paths.find("unified");
  return it != cfg_.cgroup.bigbox_paths.end() ? it->second : cfg_.cgroup.bigbox;
}

// The kernel learns which v2 cgroups have their own leaf: each configured
// cgroup and everything below it (the deepest configured one wins).
void NetController::sync_leaves_locked() {
  if (!programs_ || v2_mount_.empty()) return;
  std::map<uint64_t, uint32_t> want;
  const auto& cgs = cfg_.network.limit.cgroups;
  std::vector<size_t> order(cgs.size());
  for (size_t k = 0; k < order.size(); k++) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return cgs[a].first.size() < cgs[b].first.size(); });
  for (size_t k : order) {
    CgroupIndex idx(v2_mount_ + cgs[k].first, cfg_.cgroup.max_depth);
    idx.rescan();
    for (auto& [id, path] : idx.entries())
      want[id] = static_cast<uint32_t>(COLO_HTB_CG_MINOR_BASE + k);
  }
  for (auto& [id, minor] : want) {
    auto it = pushed_leaves_.find(id);
    if (it == pushed_leaves_.end() || it->second != minor)
      programs_->set_net_cgroup_leaf(id, minor);
  }
  for (auto& [id, minor] : pushed_leaves_)
    if (!want.count(id)) programs_->clear_net_cgroup_leaf(id);
  pushed_leaves_ = std::move(want);
}

void NetController::attach_locked() {
  const auto& L = cfg_.network.limit;
  for (auto& i : ifaces_) {
    i.ifindex = if_nametoindex(i.name.c_str());
    if (!programs_) continue;
    std::string e;
    i.attached = programs_->attach_egress(i.name, &e);
    if (!i.attached) {
      LOG_WARN("egress accounting: %s", e.c_str());
      continue;
    }
    if (!L.enabled) continue;
    i.policy.emplace(L);
    if (dry_run_) {
      LOG_INFO("dry run: would limit BE egress on %s to %s", i.name.c_str(),
               rate_str(L.high).c_str());
      continue;
    }
    i.htb = net::Htb::install(i.name, &e);
    if (!i.htb) {
      LOG_WARN("BE egress not limited: %s", e.c_str());
      i.policy.reset();
      continue;
    }
    apply_locked(i, "limiting starts");
    programs_->set_net_shaped(i.ifindex, true);
  }
  if (L.enabled) sync_leaves_locked();
}

void NetController::detach_locked() {
  for (auto& i : ifaces_) {
    if (programs_ && i.ifindex) programs_->set_net_shaped(i.ifindex, false);
    if (i.htb) {
      for (auto& [minor, n] : i.htb->drops()) i.drop_base[minor] += n;
      i.htb->remove();
      i.htb.reset();
    }
    i.applied = 0;
    i.policy.reset();
    if (i.attached && programs_) programs_->detach_egress(i.name);
    i.attached = false;
  }
}

void NetController::apply_locked(Iface& i, const std::string& why) {
  if (!i.htb || !i.policy) return;
  uint64_t want = i.policy->limit();
  std::string e;
  if (!i.htb->set_limit(want, leaves_locked(), &e)) {
    LOG_WARN_ONCE("net_set_limit", "cannot set the BE egress limit: %s", e.c_str());
    return;
  }
  i.applied = want;
  nlohmann::json d = {{"interface", i.name},
                      {"limit_bytes_per_second", want},
                      {"ls_bytes_per_second", i.policy->ls_rate()},
                      {"reason", why},
                      {"time_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()}};
  decisions_.push_back(d);
  if (decisions_.size() > 50) decisions_.pop_front();
  LOG_INFO("decision: BE egress on %s limited to %s (%s)", i.name.c_str(), rate_str(want).c_str(),
           why.c_str());
}

void NetController::start() {
  {
    std::lock_guard<std::mutex> l(mu_);
    attach_locked();
  }
  if (cfg_.network.limit.enabled && programs_) thread_ = std::thread([this] { loop(); });
}

void NetController::loop() {
  int n = 0;
  while (!stop_) {
    std::this_thread::sleep_for(kPeriod);
    std::lock_guard<std::mutex> l(mu_);
    if (!enabled_) continue;
    uint64_t now = mono_ns();
    for (auto& i : ifaces_) {
      if (!i.policy || !i.attached) continue;
      uint64_t ls = programs_->read_net_class(i.ifindex, COLO_CLASS_LS).bytes;
      if (i.policy->observe(now, ls)) {
        char why[128];
        snprintf(why, sizeof(why), "LS egress %s %s the watermark %s",
                 rate_str(static_cast<uint64_t>(i.policy->ls_rate())).c_str(),
                 i.policy->low() ? "above" : "stayed below",
                 rate_str(cfg_.network.limit.ls_watermark).c_str());
        if (dry_run_) LOG_INFO("dry run: BE egress on %s would be %s (%s)", i.name.c_str(),
                               rate_str(i.policy->limit()).c_str(), why);
        else apply_locked(i, why);
      }
    }
    if (++n % kLeafSyncPeriods == 0) sync_leaves_locked();
  }
}

void NetController::set_enabled(bool on) {
  std::lock_guard<std::mutex> l(mu_);
  if (on == enabled_) return;
  enabled_ = on;
  if (on) attach_locked();
  else detach_locked();
  LOG_INFO("egress: %s", on ? "filters and limits attached again (colo enable)"
                            : "filters and limits removed (colo disable)");
}

void NetController::reconfigure(const Config& cfg) {
  std::lock_guard<std::mutex> l(mu_);
  bool was = cfg_.network.limit.enabled;
  cfg_.network.limit = cfg.network.limit;
  if (was != cfg.network.limit.enabled)
    LOG_WARN("network.limit.enabled changed: takes effect when the agent restarts");
  cfg_.network.limit.enabled = was;
  for (auto& i : ifaces_) {
    if (!i.policy) continue;
    i.policy->reconfigure(cfg_.network.limit);
    i.policy->reset();
    apply_locked(i, "configuration reloaded");
  }
  sync_leaves_locked();
}

nlohmann::json NetController::status() const {
  std::lock_guard<std::mutex> l(mu_);
  nlohmann::json j;
  j["enabled"] = enabled_.load();
  j["limit_enabled"] = cfg_.network.limit.enabled;
  auto ifs = nlohmann::json::array();
  for (auto& i : ifaces_) {
    nlohmann::json r = {{"name", i.name}, {"accounting", i.attached}, {"limited", !!i.htb}};
    if (i.policy) {
      r["state"] = i.policy->low() ? "low" : "high";
      r["ls_bytes_per_second"] = i.policy->ls_rate();
    }
    if (i.htb) r["limit_bytes_per_second"] = i.applied;
    ifs.push_back(r);
  }
  j["interfaces"] = ifs;
  j["decisions"] = nlohmann::json(std::vector<nlohmann::json>(decisions_.begin(), decisions_.end()));
  return j;
}

std::vector<MetricFamily> NetController::Collect() const {
  std::lock_guard<std::mutex> l(mu_);
  MetricFamily lim;
  lim.name = "colo_bigbox_egress_limit_bytes_per_second";
  lim.help = "The big box's egress limit on the interface (absent: not limited there).";
  lim.type = MetricType::Gauge;
  MetricFamily drops;
  drops.name = "colo_cgroup_network_transmit_dropped_packets_total";
  drops.help = "Packets of the cgroup dropped at egress, by reason (egress_limit: its queue in "
               "colo's HTB was full).";
  drops.type = MetricType::Counter;
  for (auto& i : ifaces_) {
    if (i.htb) {
      ClientMetric m;
      m.label = {{"interface", i.name}};
      m.gauge.value = static_cast<double>(i.applied);
      lim.metric.push_back(m);
    }
    std::map<uint32_t, uint64_t> d = i.drop_base;
    if (i.htb)
      for (auto& [minor, n] : i.htb->drops()) d[minor] += n;
    for (auto& [minor, n] : d) {
      ClientMetric m;
      m.label = {{"cgroup", leaf_cgroup(minor)},
                 {"class", "be"},
                 {"interface", i.name},
                 {"reason", "egress_limit"}};
      m.counter.value = static_cast<double>(n);
      drops.metric.push_back(m);
    }
  }
  return {lim, drops};
}

}  // namespace colo
