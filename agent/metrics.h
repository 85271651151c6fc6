// Prometheus exposition of colo's snapshots. Counters come straight from the
// kernel's cumulative values (a Collectable, not client-side counters).
#pragma once
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
  // Other sources of families rendered with ours (the controllers).
  void add_source(const prometheus::Collectable* c) { extra_.push_back(c); }
  std::vector<prometheus::MetricFamily> Collect() const override;
  // The text format of everything (what /metrics serves).
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snap_;
  std::vector<const prometheus::Collectable*> extra_;
};

}  // namespace colo
