// The daemon: wires the BPF programs, the collector, /metrics and the control
// socket together and runs until SIGTERM/SIGINT. SIGHUP reloads the config.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/collector.h"
#include "agent/config.h"
#include "agent/controller.h"
#include "agent/k8s/kubernetes.h"
#include "agent/metrics.h"
#include "agent/stats_sampler.h"
#include "agent/netcontrol.h"
#include "agent/policy/clock.h"

namespace colo {

struct AgentOptions {
  std::string config_path;  // empty: built-in defaults
  // Command-line overrides (empty: from the config).
  std::string metrics_addr, cgroup_root, sysfs_root, bpf_pin_dir, socket_path;
  bool dry_run = false;
};

class Agent {
 public:
  explicit Agent(AgentOptions opts);
  ~Agent();
  // Runs in the foreground; returns the process exit code.
  int run();

  // JSON views served on the control socket (public for tests).
  static nlohmann::json top_json(const Snapshot* prev, const Snapshot& cur);
  // What the control loop takes from each collection window: the worst LS
  // run-queue p99 (of cgroups with samples in it), and BE's CPU time and
  // run-queue wait, with each BE cgroup's cores. The numbers top_json shows,
  // without building and sorting its rows for every cgroup (with 1,000
  // cgroups that was a quarter of the agent's CPU time).
  struct ControlWindow {
    double window_s = 0;
    std::optional<double> worst_ls_p99;
    double be_run_s = 0, be_wait_s = 0;
    std::map<std::string, double> be_cores;  // by cgroup path
  };
  static ControlWindow control_window(const Snapshot& prev, const Snapshot& cur);

 private:
  bool load_config(Config* out);
  nlohmann::json handle(const nlohmann::json& req);
  nlohmann::json status_json();

  AgentOptions opts_;
  Config cfg_;
  std::unique_ptr<bpf::Programs> programs_;
  std::unique_ptr<Collector> collector_;
  // The kernel's BPF run-time stats, on for a window of every period; stepped
  // and read by the main loop only.
  std::unique_ptr<StatsSampler> stats_sampler_;
  std::string stats_text_;  // for colo status: "1s of every 10s", "always", "off" (snap_mu_)
  void set_stats_text();
  policy::RealClock clock_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<NetController> netctl_;
  std::unique_ptr<k8s::KubernetesMode> k8s_;
  ClassTimes class_times() const;
  MetricsExporter exporter_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  // controller.fast_interval and controller.tick, read by the events thread
  // (reload may change them): it samples every fast_interval while the fast
  // path is armed (Controller::fast_path_armed), else every tick.
  std::atomic<uint64_t> fast_interval_ns_{2000000};
  std::atomic<uint64_t> fast_idle_interval_ns_{100000000};
  void set_fast_intervals();
  std::mutex snap_mu_;
  std::shared_ptr<const Snapshot> prev_, cur_;
  std::mutex events_mu_;
  std::deque<nlohmann::json> recent_urgent_;
  std::atomic<uint64_t> urgent_total_{0};
  std::string bpf_status_ = "not loaded";
};

// Interfaces with a default route in /proc/net/route (IPv4).
std::vector<std::string> default_route_interfaces();

}  // namespace colo
