// Prometheus exposition of colo's snapshots. Counters come straight from the
// kernel's cumulative values (a Collectable, not client-side counters).
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/collector.h"
#include "agent/config.h"

namespace colo {

// The histogram's exported bucket bounds in seconds: one per power of two of
// microseconds (1us .. 2^26us), then +Inf. Exact for the kernel's slots.
const std::vector<double>& runqueue_bucket_bounds();

// The labels of one cgroup's series. Bare-host mode: cgroup (path relative to
// the hierarchy root) and class. Every per-cgroup series is labelled here, so
// another mode (Kubernetes: namespace/pod/container/qos_class) changes only this.
std::vector<prometheus::ClientMetric::Label> cgroup_labels(const std::string& path,
                                                           const CgroupSignals& cs);
// Sums the series of a family that carry the same labels (counters, gauges,
// histograms with the same bounds), keeping the first one's place.
void merge_same_labels(prometheus::MetricFamily* f);
// The labels of a class-wide series (the run-queue histogram of the cgroups
// without their own).
std::vector<prometheus::ClientMetric::Label> class_labels(const std::string& cls);

// Bounded cardinality: the run-queue latency histogram (28 series) is exported
// per class, plus per cgroup for metrics.cgroup_histograms and at most
// metrics.max_cgroup_histograms others (chosen when first seen, kept until
// removed). A class's histogram counts the cgroups without their own, and
// keeps what removed cgroups counted, so it never goes back. Series of removed
// cgroups disappear with the next snapshot.
class MetricsExporter : public prometheus::Collectable {
 public:
  explicit MetricsExporter(MetricsConfig cfg = {}) : cfg_(std::move(cfg)) {}
  // Before the first update().
  void configure(const MetricsConfig& cfg);
  void update(std::shared_ptr<const Snapshot> s);
  // Other sources of families rendered with ours (the controllers).
  void add_source(const prometheus::Collectable* c) { extra_.push_back(c); }
  // Another identity for a cgroup's series (Kubernetes mode: namespace, pod,
  // container, qos_class instead of the path of a pod's cgroup, which holds
  // its uid and container id). The labels returned replace `cgroup` (class
  // is always added); nullopt: no series of its own for now (a pod the
  // kubelet has not listed yet; its waits still count in its class's
  // histogram). Cgroups that get the same labels are summed into one series.
  // Thread-safe callee.
  using Labels = std::vector<std::pair<std::string, std::string>>;
  using LabelResolver = std::function<std::optional<Labels>(const std::string& path)>;
  void set_label_resolver(LabelResolver r);
  std::vector<prometheus::MetricFamily> Collect() const override;
  // The text format of everything (what /metrics serves).
  std::string render() const;

 private:
  struct Hist {
    std::array<uint64_t, COLO_HIST_SLOTS> slots{};
    uint64_t count = 0, sum_ns = 0;
    void add(const CgroupSignals& cs);
  };
  bool own_histogram(const std::string& path) const;

  mutable std::mutex mu_;
  MetricsConfig cfg_;
  std::shared_ptr<const Snapshot> snap_;
  std::set<std::string> chosen_;          // non-allowlisted cgroups with their own histogram
  std::map<std::string, Hist> departed_;  // by class: removed cgroups' last counts
  std::vector<const prometheus::Collectable*> extra_;
  LabelResolver resolver_;
};

}  // namespace colo
