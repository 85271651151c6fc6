#include "agent/k8s/pods.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace colo::k8s {
namespace {

using nlohmann::json;

std::string str_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

ContainerInfo container_of(const json& st) {
  ContainerInfo c;
  c.name = str_at(st, "name");
  std::string id = str_at(st, "containerID");
  auto sep = id.find("://");
  if (sep != std::string::npos) {
    std::string rt = id.substr(0, sep);
    c.runtime = rt == "cri-o" ? "cri-o" : rt;
    c.id = id.substr(sep + 3);
  } else {
    c.id = id;
  }
  return c;
}

}  // namespace

std::optional<std::vector<PodInfo>> parse_pod_list(const std::string& text, std::string* err) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    *err = "the pod list is not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_object() || str_at(doc, "kind") != "PodList" || !doc.contains("items") ||
      !(doc["items"].is_array() || doc["items"].is_null())) {
    *err = "expected a PodList with items";
    return std::nullopt;
  }
  std::vector<PodInfo> out;
  if (doc["items"].is_null()) return out;
  for (auto& item : doc["items"]) {
    if (!item.is_object()) continue;
    const json empty = json::object();
    const json& md = item.contains("metadata") && item["metadata"].is_object() ? item["metadata"] : empty;
    const json& spec = item.contains("spec") && item["spec"].is_object() ? item["spec"] : empty;
    const json& st = item.contains("status") && item["status"].is_object() ? item["status"] : empty;
    PodInfo p;
    p.uid = str_at(md, "uid");
    p.name = str_at(md, "name");
    p.namespace_ = str_at(md, "namespace");
    if (p.uid.empty() || p.name.empty() || p.namespace_.empty()) continue;
    if (md.contains("labels") && md["labels"].is_object())
      for (auto& [k, v] : md["labels"].items())
        if (v.is_string()) p.labels[k] = v.get<std::string>();
    p.node = str_at(spec, "nodeName");
    if (spec.contains("priority") && spec["priority"].is_number_integer())
      p.priority = spec["priority"].get<int>();
    p.phase = str_at(st, "phase");
    p.qos = parse_qos(str_at(st, "qosClass"));
    p.start_time = str_at(st, "startTime");
    for (const char* list : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
      if (!st.contains(list) || !st[list].is_array()) continue;
      for (auto& cs : st[list]) {
        if (!cs.is_object()) continue;
        auto c = container_of(cs);
        if (!c.id.empty()) p.containers.push_back(c);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

bool is_be_pod(const PodInfo& p, const KubernetesConfig& cfg) {
  auto it = p.labels.find(cfg.be_label);
  if (it != p.labels.end()) {
    if (it->second == "be") return true;
    if (it->second == "ls") return false;
  }
  if (!p.qos) return false;  // unknown: never BE (never evicted by mistake)
  return std::find(cfg.be_qos_classes.begin(), cfg.be_qos_classes.end(), qos_name(*p.qos)) !=
         cfg.be_qos_classes.end();
}

void PodDirectory::replace(std::vector<PodInfo> pods) {
  std::map<std::string, PodInfo> by_uid;
  std::map<std::string, std::pair<std::string, std::string>> cont;
  for (auto& p : pods) {
    for (auto& c : p.containers) cont[c.id] = {p.uid, c.name};
    std::string uid = p.uid;
    by_uid[uid] = std::move(p);
  }
  std::lock_guard<std::mutex> l(mu_);
  by_uid_ = std::move(by_uid);
  container_ = std::move(cont);
}

size_t PodDirectory::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return by_uid_.size();
}

std::optional<PodInfo> PodDirectory::by_uid(const std::string& uid) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return std::nullopt;
  return it->second;
}

std::optional<PodInfo> PodDirectory::by_key(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [uid, p] : by_uid_)
    if (p.namespace_ + "/" + p.name == key) return p;
  return std::nullopt;
}

std::vector<PodInfo> PodDirectory::all() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<PodInfo> out;
  for (auto& [uid, p] : by_uid_) out.push_back(p);
  return out;
}

Labels PodDirectory::labels_for(const std::string& rel_path) const {
  Labels l = {{"namespace", ""}, {"pod", ""}, {"container", ""}, {"qos_class", ""}};
  auto ref = pod_of_path(rel_path);
  if (!ref) return l;
  l[3].second = qos_name(ref->qos);
  std::lock_guard<std::mutex> g(mu_);
  auto it = by_uid_.find(ref->uid);
  if (it == by_uid_.end()) return l;
  l[0].second = it->second.namespace_;
  l[1].second = it->second.name;
  if (it->second.qos) l[3].second = qos_name(*it->second.qos);
  if (!ref->container_id.empty() && !ref->conmon) {
    auto c = container_.find(ref->container_id);
    // A container id the kubelet does not list is the pod's sandbox (pause).
    l[2].second = c != container_.end() && c->second.first == ref->uid ? c->second.second : "POD";
  }
  return l;
}

std::optional<Labels> PodDirectory::metric_labels(const std::string& rel_path) const {
  Labels l = labels_for(rel_path);
  const bool pod_path = !l[3].second.empty();  // qos_class comes from the path
  if (pod_path && l[1].second.empty()) return std::nullopt;
  l.insert(l.begin(), {"cgroup", pod_path ? "" : rel_path});
  return l;
}

std::optional<std::vector<PodInfo>> fetch_pods(const ApiClient& kubelet, std::string* err) {
  auto r = kubelet.request("GET", "");
  if (!r.ok()) {
    *err = r.status ? "kubelet answered " + std::to_string(r.status) : "kubelet unreachable: " + r.error;
    return std::nullopt;
  }
  return parse_pod_list(r.body, err);
}

}  // namespace colo::k8s
