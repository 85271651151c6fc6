#include "agent/k8s/node_api.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "userspace/util/log.h"

namespace colo::k8s {

using nlohmann::json;

std::optional<std::map<std::string, std::string>> fetch_node_labels(const ApiClient& api,
                                                                    const std::string& node,
                                                                    std::string* err) {
  auto r = api.request("GET", "/api/v1/nodes/" + node);
  if (!r.ok()) {
    *err = r.status ? "GET node " + node + ": " + std::to_string(r.status)
                    : "GET node " + node + ": " + r.error;
    return std::nullopt;
  }
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("kind", "") != "Node") {
    *err = "GET node " + node + ": not a Node object";
    return std::nullopt;
  }
  std::map<std::string, std::string> labels;
  if (j.contains("metadata") && j["metadata"].is_object() && j["metadata"].contains("labels") &&
      j["metadata"]["labels"].is_object())
    for (auto& [k, v] : j["metadata"]["labels"].items())
      if (v.is_string()) labels[k] = v.get<std::string>();
  return labels;
}

std::string resources_patch(int64_t cpu_milli, int64_t memory_bytes) {
  json q = {{kBatchCpu, std::to_string(cpu_milli)}, {kBatchMemory, std::to_string(memory_bytes)}};
  return json{{"status", {{"capacity", q}, {"allocatable", q}}}}.dump();
}

NodeResourceReporter::NodeResourceReporter(const ApiClient& api, std::string node,
                                           KubernetesConfig::Resources cfg,
                                           const policy::Clock& clock)
    : api_(api), node_(std::move(node)), cfg_(cfg), clock_(clock) {}

bool NodeResourceReporter::changed_enough(int64_t cpu, int64_t mem) const {
  auto rel = [](int64_t now, int64_t before) {
    if (now == before) return 0.0;
    return std::fabs(static_cast<double>(now - before)) /
           std::max<double>(std::max(std::llabs(before), std::llabs(now)), 1.0);
  };
  return rel(cpu, last_->first) > cfg_.threshold || rel(mem, last_->second) > cfg_.threshold;
}

NodeResourceReporter::Outcome NodeResourceReporter::update(double cpu_cores,
                                                           uint64_t memory_bytes) {
  if (!cfg_.report) return Outcome::Unchanged;
  auto now = clock_.now_mono();
  int64_t cpu = static_cast<int64_t>(std::floor(std::max(cpu_cores, 0.0) * 1000));
  int64_t mem = static_cast<int64_t>(std::min<uint64_t>(memory_bytes, INT64_MAX));
  auto max_interval = std::chrono::nanoseconds(cfg_.max_interval_ns);
  bool due = !last_ || changed_enough(cpu, mem) || now - last_at_ >= max_interval;
  if (!due) return Outcome::Unchanged;
  if (retry_after_ && now < *retry_after_) return Outcome::Backoff;
  auto r = api_.request("PATCH", "/api/v1/nodes/" + node_ + "/status", resources_patch(cpu, mem),
                        "application/merge-patch+json");
  if (!r.ok()) {
    retry_wait_ = retry_after_ ? std::min<std::chrono::nanoseconds>(retry_wait_ * 2, max_interval)
                               : std::chrono::seconds(1);
    retry_after_ = now + retry_wait_;
    LOG_WARN("kubernetes: patching node %s status failed (%s); next try in %lld s", node_.c_str(),
             r.status ? std::to_string(r.status).c_str() : r.error.c_str(),
             static_cast<long long>(retry_wait_.count() / 1000000000));
    return Outcome::Failed;
  }
  retry_after_.reset();
  last_ = {cpu, mem};
  last_at_ = now;
  patches_++;
  LOG_DEBUG("kubernetes: node %s: %s=%lld %s=%lld", node_.c_str(), kBatchCpu,
            static_cast<long long>(cpu), kBatchMemory, static_cast<long long>(mem));
  return Outcome::Patched;
}

const char* evict_outcome_name(EvictOutcome o) {
  switch (o) {
    case EvictOutcome::Evicted: return "evicted";
    case EvictOutcome::Gone: return "gone";
    case EvictOutcome::Blocked: return "blocked";
    case EvictOutcome::Failed: return "failed";
    case EvictOutcome::Killed: return "killed";
  }
  return "failed";
}

std::string eviction_body(const std::string& ns, const std::string& name,
                          std::optional<int64_t> grace_seconds) {
  json j = {{"apiVersion", "policy/v1"},
            {"kind", "Eviction"},
            {"metadata", {{"name", name}, {"namespace", ns}}}};
  if (grace_seconds) j["deleteOptions"] = {{"gracePeriodSeconds", *grace_seconds}};
  return j.dump();
}

EvictResult evict_pod(const ApiClient& api, const KubernetesConfig::Eviction& cfg,
                      const std::string& ns, const std::string& name,
                      const std::function<bool()>& kill_pod) {
  EvictResult res;
  auto retry = [](const HttpResult& r) { return r.status == 0 || r.status >= 500; };
  auto r = api.request("POST", "/api/v1/namespaces/" + ns + "/pods/" + name + "/eviction",
                       eviction_body(ns, name, static_cast<int64_t>(cfg.grace_period_ns / 1000000000ull)),
                       "application/json", retry);
  res.status = r.status;
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string())
    res.message = j["message"].get<std::string>();
  if (r.status == 200 || r.status == 201) {
    res.outcome = EvictOutcome::Evicted;
  } else if (r.status == 404) {
    res.outcome = EvictOutcome::Gone;
  } else if (r.status == 429 || r.status == 409) {
    res.outcome = EvictOutcome::Blocked;
  } else if (r.status == 0 && cfg.fallback_kill && kill_pod) {
    // The API server could not be reached at all: the configured fallback.
    res.outcome = kill_pod() ? EvictOutcome::Killed : EvictOutcome::Failed;
    res.message = "API unreachable (" + r.error + "); " +
                  (res.outcome == EvictOutcome::Killed ? "killed the pod's processes"
                                                       : "no process killed");
  } else {
    res.outcome = EvictOutcome::Failed;
    if (res.message.empty()) res.message = r.status ? "HTTP " + std::to_string(r.status) : r.error;
  }
  return res;
}

}  // namespace colo::k8s
