// Prometheus exposition of colo's snapshots. Counters come straight from the
// kernel's cumulative values (a Collectable, not client-side counters).
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/collector.h"

namespace colo {

// The histogram's exported bucket bounds in seconds: one per power of two of
// microseconds (1us .. 2^26us), then +Inf. Exact for the kernel's slots.
const std::vector<double>& runqueue_bucket_bounds();

class MetricsExporter : public prometheus::Collectable {
 public:
  void update(std::shared_ptr<const Snapshot> s);
  // Another source of families rendered with ours (the controller).
  void add_source(const prometheus::Collectable* c) { extra_ = c; }
  // Extra labels for a cgroup path (Kubernetes mode: namespace, pod,
  // container, qos_class), appended to cgroup and class. Thread-safe callee.
  using LabelResolver =
      std::function<std::vector<std::pair<std::string, std::string>>(const std::string& path)>;
  void set_label_resolver(LabelResolver r);
  std::vector<prometheus::MetricFamily> Collect() const override;
  // The text format of everything (what /metrics serves).
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snap_;
  const prometheus::Collectable* extra_ = nullptr;
  LabelResolver resolver_;
};

}  // namespace colo
