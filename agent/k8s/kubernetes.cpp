#include "agent/k8s/kubernetes.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>

#include "userspace/cgroup/index.h"
#include "userspace/cgroup/pods.h"
#include "userspace/util/fs.h"
#include "userspace/util/log.h"

namespace colo::k8s {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// RFC 3339 UTC ("2026-11-22T08:59:12Z") -> wall time.
std::optional<policy::WallTime> parse_rfc3339(const std::string& s) {
  tm t{};
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &t)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&t));
}

// Every directory at or below `abs`, for cgroup.procs.
void collect_dirs(const std::string& abs, std::vector<std::string>* out, int depth = 0) {
  if (depth > 8 || !is_dir(abs)) return;
  out->push_back(abs);
  CgroupIndex idx(abs, 8);
  idx.rescan();
  for (auto& [id, rel] : idx.entries())
    if (rel != "/") out->push_back(abs + rel);
}

}  // namespace

KubernetesMode::KubernetesMode(const Config& cfg, Paths paths, const policy::Clock& clock,
                               Sleeper sleeper, Signaller signaller)
    : cfg_(cfg), paths_(std::move(paths)), clock_(clock), sleeper_(std::move(sleeper)),
      signal_(std::move(signaller)) {
  if (!signal_) signal_ = [](pid_t p, int s) { return ::kill(p, s); };
}

KubernetesMode::~KubernetesMode() { stop(); }

bool KubernetesMode::init(std::string* err) {
  const auto& k = cfg_.kubernetes;
  node_ = !k.node_name.empty() ? k.node_name : env("NODE_NAME");
  if (node_.empty()) {
    *err = "no node name: set kubernetes.node_name or NODE_NAME (downward API spec.nodeName)";
    return false;
  }
  std::string api = !k.api_server.empty() ? k.api_server : in_cluster_api_server();
  if (api.empty()) {
    *err = "no API server: set kubernetes.api_server, or run in a pod (KUBERNETES_SERVICE_HOST)";
    return false;
  }
  std::string kubelet = k.kubelet_url;
  if (kubelet.empty()) {
    std::string ip = env("NODE_IP");
    if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
    kubelet = "https://" + (ip.empty() ? std::string("127.0.0.1") : ip) + ":10250/pods";
  }
  ApiClient::Options o;
  o.token_file = k.token_file;
  o.ca_file = k.ca_file;
  o.timeout = std::chrono::nanoseconds(k.request_timeout_ns);
  o.retries = k.retries;
  o.backoff = std::chrono::nanoseconds(k.retry_backoff_ns);
  o.base_url = api;
  api_ = std::make_unique<ApiClient>(o, sleeper_);
  o.base_url = kubelet;
  o.ca_file = k.kubelet_ca_file.empty() ? k.ca_file : k.kubelet_ca_file;
  o.insecure_skip_tls_verify = k.kubelet_insecure_skip_tls_verify;
  kubelet_ = std::make_unique<ApiClient>(o, sleeper_);
  if (!api_->valid()) {
    *err = "invalid API server URL '" + api + "'";
    return false;
  }
  if (!kubelet_->valid()) {
    *err = "invalid kubelet URL '" + kubelet + "'";
    return false;
  }
  reporter_ = std::make_unique<NodeResourceReporter>(*api_, node_, k.resources, clock_);
  LOG_INFO("kubernetes mode: node %s, API server %s, kubelet %s", node_.c_str(), api.c_str(),
           kubelet.c_str());
  return true;
}

void KubernetesMode::refresh_pods(policy::MonoTime now) {
  if (next_pods_ && now < *next_pods_) return;
  next_pods_ = now + std::chrono::nanoseconds(cfg_.kubernetes.pod_refresh_ns);
  std::string err;
  auto pods = fetch_pods(*kubelet_, &err);
  if (!pods) {
    // Keep the last list: labels stay, and nothing is evicted on a guess.
    if (err != last_pods_error_) LOG_WARN("kubernetes: pod list: %s; keeping the last one", err.c_str());
    std::lock_guard<std::mutex> l(mu_);
    last_pods_error_ = err;
    return;
  }
  std::vector<PodInfo> mine;
  for (auto& p : *pods)
    if (p.node.empty() || p.node == node_) mine.push_back(std::move(p));
  pods_.replace(std::move(mine));
  std::lock_guard<std::mutex> l(mu_);
  last_pods_error_.clear();
}

void KubernetesMode::refresh_policy(policy::MonoTime now) {
  const std::string& file = cfg_.kubernetes.node_policies;
  if (file.empty()) return;
  if (invalidate_.exchange(false)) {
    next_labels_.reset();
    policy_key_.clear();
  }
  if (!next_labels_ || now >= *next_labels_) {
    next_labels_ = now + std::chrono::nanoseconds(cfg_.kubernetes.node_labels_refresh_ns);
    std::string err;
    auto labels = fetch_node_labels(*api_, node_, &err);
    if (labels) node_labels_ = labels;
    else LOG_WARN("kubernetes: node labels: %s", err.c_str());
  }
  if (!node_labels_) return;  // never choose a group without the node's labels
  auto text = read_file(file);
  if (!text) {
    LOG_WARN_ONCE("k8s-policies:" + file, "kubernetes: cannot read node policies %s", file.c_str());
    return;
  }
  std::string base = paths_.config_file.empty() ? "" : read_file(paths_.config_file).value_or("");
  std::string key = base + "\n\x1f" + *text + "\n\x1f";
  for (auto& [k, v] : *node_labels_) key += k + "=" + v + "\n";
  if (key == policy_key_) return;
  std::vector<ConfigError> errs;
  auto choice = choose_node_policy(base, *text, *node_labels_, &errs);
  if (!choice) {
    if (key != policy_error_key_)
      LOG_ERROR("kubernetes: node policies rejected; keeping the last good policy:\n%s",
                format_config_errors(file, errs).c_str());
    policy_error_key_ = key;
    return;
  }
  policy_key_ = key;
  LOG_INFO("kubernetes: node %s follows node-group policy '%s'", node_.c_str(), choice->group.c_str());
  std::lock_guard<std::mutex> l(mu_);
  group_ = choice->group;
  pending_policy_ = std::move(choice);
}

void KubernetesMode::run_evictions() {
  while (true) {
    std::pair<std::string, std::string> job;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (evict_queue_.empty()) return;
      job = evict_queue_.front();
      evict_queue_.pop_front();
    }
    auto pod = pods_.by_key(job.first);
    // Only a pod the kubelet lists on this node and that is BE now.
    if (!pod || !is_be_pod(*pod, cfg_.kubernetes)) {
      LOG_WARN("kubernetes: not evicting %s: not a BE pod of this node", job.first.c_str());
      continue;
    }
    EvictResult r;
    if (cfg_.kubernetes.eviction.use_api) {
      std::string uid = pod->uid;
      r = evict_pod(*api_, cfg_.kubernetes.eviction, pod->namespace_, pod->name,
                    [this, uid] { return kill_pod(uid); });
    } else {
      r.outcome = kill_pod(pod->uid) ? EvictOutcome::Killed : EvictOutcome::Failed;
    }
    LOG_INFO("kubernetes: evict %s (%s): %s%s%s", job.first.c_str(), job.second.c_str(),
             evict_outcome_name(r.outcome), r.message.empty() ? "" : ": ", r.message.c_str());
    std::lock_guard<std::mutex> l(mu_);
    evicted_[job.first] = r.outcome;
  }
}

bool KubernetesMode::kill_pod(const std::string& uid) {
  // The pod's cgroup on the pod hierarchy, and only inside the big box.
  auto tree = discover_pods(paths_.pod_hierarchy);
  for (auto& p : tree.pods) {
    if (p.uid != uid) continue;
    if (paths_.bigbox.empty() || !path_is_within(p.rel_path, paths_.bigbox)) {
      LOG_WARN("kubernetes: pod %s is not in the big box (%s): its processes are not killed",
               uid.c_str(), paths_.bigbox.c_str());
      return false;
    }
    std::vector<std::string> dirs;
    collect_dirs(paths_.pod_hierarchy + p.rel_path, &dirs);
    int killed = 0;
    for (auto& d : dirs) {
      auto procs = read_file(d + "/cgroup.procs");
      if (!procs) continue;
      for (auto line : split(*procs, '\n')) {
        int pid = std::atoi(std::string(trim(line)).c_str());
        if (pid > 1 && signal_(pid, SIGKILL) == 0) killed++;
      }
    }
    return killed > 0;
  }
  return false;
}

void KubernetesMode::step() {
  auto now = clock_.now_mono();
  refresh_pods(now);
  refresh_policy(now);
  std::optional<std::pair<double, uint64_t>> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    c = colocatable_;
  }
  if (c && reporter_ && reporter_->update(c->first, c->second) == NodeResourceReporter::Outcome::Patched) {
    std::lock_guard<std::mutex> l(mu_);
    reported_ = reporter_->last_reported();
  }
  run_evictions();
}

void KubernetesMode::start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> l(wake_mu_);
    while (!stopping_) {
      l.unlock();
      step();
      l.lock();
      wake_.wait_for(l, std::chrono::seconds(1), [this] { return stopping_; });
    }
  });
}

void KubernetesMode::stop() {
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KubernetesMode::set_colocatable(double cpu_cores, uint64_t memory_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  colocatable_ = {cpu_cores, memory_bytes};
}

std::optional<NodePolicyChoice> KubernetesMode::take_policy() {
  std::lock_guard<std::mutex> l(mu_);
  auto p = std::move(pending_policy_);
  pending_policy_.reset();
  return p;
}

void KubernetesMode::invalidate_policy() {
  // Runs on the main thread; the worker thread acts on it in its next step.
  invalidate_ = true;
  wake_.notify_all();
}

std::vector<policy::Candidate> KubernetesMode::candidates() {
  std::vector<policy::Candidate> out;
  auto now_wall = clock_.now_wall();
  auto now_mono = clock_.now_mono();
  if (!mem_cgroups_at_ || now_mono - *mem_cgroups_at_ >= std::chrono::seconds(1)) {
    mem_cgroups_.clear();
    if (!paths_.memory_hierarchy.empty())
      for (auto& p : discover_pods(paths_.memory_hierarchy).pods) mem_cgroups_[p.uid] = p.rel_path;
    mem_cgroups_at_ = now_mono;
  }
  const auto& cg = mem_cgroups_;
  for (auto& p : pods_.all()) {
    // Running BE pods: a Pending one holds nothing to give back.
    if (!is_be_pod(p, cfg_.kubernetes) || p.phase != "Running") continue;
    policy::Candidate c;
    c.id = p.namespace_ + "/" + p.name;
    c.priority = p.priority;
    auto it = cg.find(p.uid);
    if (it != cg.end()) {
      std::string d = paths_.memory_hierarchy + it->second;
      auto v = read_int(d + "/memory.current");
      if (!v) v = read_int(d + "/memory.usage_in_bytes");
      if (v && *v > 0) c.memory_bytes = static_cast<uint64_t>(*v);
    }
    if (auto t = parse_rfc3339(p.start_time))
      c.started = now_mono - std::chrono::duration_cast<policy::Duration>(now_wall - *t);
    out.push_back(c);
  }
  return out;
}

bool KubernetesMode::evict(const std::string& id, const std::string& reason) {
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [qid, r] : evict_queue_)
      if (qid == id) return true;
    evict_queue_.emplace_back(id, reason);
  }
  wake_.notify_all();
  return true;
}

std::map<std::string, EvictOutcome> KubernetesMode::eviction_results() const {
  std::lock_guard<std::mutex> l(mu_);
  return evicted_;
}

nlohmann::json KubernetesMode::status() const {
  nlohmann::json j;
  j["node"] = node_;
  j["pods"] = pods_.size();
  std::lock_guard<std::mutex> l(mu_);
  j["node_group"] = group_;
  j["pod_list_error"] = last_pods_error_;
  if (reported_) j["reported"] = {{kBatchCpu, reported_->first}, {kBatchMemory, reported_->second}};
  auto ev = nlohmann::json::object();
  for (auto& [k, v] : evicted_) ev[k] = evict_outcome_name(v);
  j["evictions"] = ev;
  return j;
}

}  // namespace colo::k8s
