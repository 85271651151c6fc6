// Kubernetes mode as the agent runs it, one step() at a time, against a
// recorded kubelet and API server on 127.0.0.1 and fixture cgroup trees.
#include "agent/k8s/kubernetes.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "agent/k8s/node_policies.h"
#include "k8s_test_server.h"
#include "support/temp_dir.h"
#include "userspace/util/fs.h"

namespace colo::k8s {
namespace {

using nlohmann::json;
using test::FakeKubeServer;
using test::k8s_fixture;
using namespace std::chrono_literals;

const std::string kFix = COLO_FIXTURES_DIR;

struct Mode {
  test::TempDir tmp{"colo-k8s-mode"};
  FakeKubeServer srv;
  policy::FakeClock clock;
  std::vector<std::pair<pid_t, int>> signals;
  std::unique_ptr<KubernetesMode> mode;
  Config cfg;

  explicit Mode(const std::string& tree = "k8s-cgroupfs-v1", const std::string& hier = "/cpu,cpuacct",
                const std::string& mem = "/memory", const std::string& bigbox = "/kubepods/besteffort",
                const std::string& runtime = "containerd") {
    srv.script("GET /pods", {{200, k8s_fixture("kubelet-pods-" + runtime + ".json")}});
    srv.script("GET /api/v1/nodes/worker-1", {{200, k8s_fixture("node-worker-1.json")}});
    srv.script("PATCH /api/v1/nodes/worker-1/status", {{200, k8s_fixture("node-worker-1.json")}});
    cfg.kubernetes.enabled = true;
    cfg.kubernetes.node_name = "worker-1";
    cfg.kubernetes.api_server = srv.url();
    cfg.kubernetes.kubelet_url = srv.url() + "/pods";
    cfg.kubernetes.token_file = tmp.put("token", "tok\n");
    cfg.kubernetes.retries = 1;
    cfg.kubernetes.retry_backoff_ns = 1000000;
    paths.config_file = "";
    paths.pod_hierarchy = kFix + "/cgroup/" + tree + hier;
    paths.memory_hierarchy = mem.empty() ? paths.pod_hierarchy : kFix + "/cgroup/" + tree + mem;
    paths.bigbox = bigbox;
  }
  KubernetesMode::Paths paths;
  KubernetesMode& make() {
    mode = std::make_unique<KubernetesMode>(
        cfg, paths, clock, [](std::chrono::nanoseconds) {},
        [this](pid_t p, int s) {
          signals.emplace_back(p, s);
          return 0;
        });
    std::string err;
    EXPECT_TRUE(mode->init(&err)) << err;
    return *mode;
  }
  int count(const std::string& method_path) {
    int n = 0;
    for (auto& r : srv.requests())
      if (r.method + " " + r.path == method_path) n++;
    return n;
  }
};

TEST(KubernetesMode, InitNeedsNodeAndApiServer) {
  Config cfg;
  cfg.kubernetes.enabled = true;
  policy::FakeClock clock;
  unsetenv("NODE_NAME");
  unsetenv("KUBERNETES_SERVICE_HOST");
  KubernetesMode m(cfg, {}, clock);
  std::string err;
  EXPECT_FALSE(m.init(&err));
  EXPECT_NE(err.find("NODE_NAME"), std::string::npos);
  setenv("NODE_NAME", "worker-9", 1);
  EXPECT_FALSE(m.init(&err));
  EXPECT_NE(err.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  EXPECT_TRUE(m.init(&err)) << err;
  EXPECT_EQ(m.node_name(), "worker-9");
  EXPECT_EQ(in_cluster_api_server(), "https://10.96.0.1:443");
  unsetenv("NODE_NAME");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(KubernetesMode, PodsLabelsAndResources) {
  Mode t;
  auto& m = t.make();
  m.step();
  EXPECT_EQ(m.pods().size(), 6u);
  EXPECT_EQ(t.count("GET /pods"), 1);
  auto reqs = t.srv.requests();
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer tok");
  // Labels for a container cgroup of the fixture tree.
  auto tree = discover_pods(t.paths.pod_hierarchy);
  std::string spark;
  for (auto& p : tree.pods)
    if (p.uid == "9b8a7c6d-5e4f-4321-8fed-cba987654321") spark = p.rel_path;
  ASSERT_FALSE(spark.empty());
  auto pod = m.pods().by_uid("9b8a7c6d-5e4f-4321-8fed-cba987654321");
  auto l = m.labels_for(spark + "/" + pod->containers[0].id);
  EXPECT_EQ(l, (Labels{{"namespace", "batch"}, {"pod", "spark-exec-1"}, {"container", "executor"},
                       {"qos_class", "BestEffort"}}));
  // The pod list is read again only after pod_refresh.
  t.clock.advance(5s);
  m.step();
  EXPECT_EQ(t.count("GET /pods"), 1);
  t.clock.advance(6s);
  m.step();
  EXPECT_EQ(t.count("GET /pods"), 2);
  // Colocatable amounts go to the Node.
  m.set_colocatable(1.75, 3ull << 30);
  m.step();
  ASSERT_EQ(t.count("PATCH /api/v1/nodes/worker-1/status"), 1);
  EXPECT_EQ(m.status()["reported"]["colo.io/batch-cpu"], 1750);
  m.step();
  EXPECT_EQ(t.count("PATCH /api/v1/nodes/worker-1/status"), 1);
}

TEST(KubernetesMode, KubeletDownKeepsTheLastList) {
  Mode t;
  auto& m = t.make();
  m.step();
  ASSERT_EQ(m.pods().size(), 6u);
  t.srv.script("GET /pods", {{500, "{}"}});
  t.clock.advance(11s);
  m.step();
  EXPECT_EQ(m.pods().size(), 6u);
  EXPECT_NE(m.status()["pod_list_error"].get<std::string>().find("500"), std::string::npos);
}

TEST(KubernetesMode, CandidatesAreBePodsOnly) {
  Mode t;
  auto& m = t.make();
  m.step();
  auto c = m.candidates();
  std::map<std::string, policy::Candidate> by;
  for (auto& x : c) by[x.id] = x;
  // BestEffort spark, ml-train (label be); not the Pending BestEffort job (it
  // holds nothing), not the exporter (label ls), not the Guaranteed/Burstable
  // services.
  EXPECT_EQ(by.size(), 2u);
  ASSERT_TRUE(by.count("batch/spark-exec-1"));
  ASSERT_TRUE(by.count("batch/ml-train-0"));
  EXPECT_FALSE(by.count("batch/queued-job-abcde"));
  EXPECT_EQ(by["batch/ml-train-0"].priority, -10);
  // Memory from the memory hierarchy's pod cgroup (fixture: 300Mi, 400Mi).
  EXPECT_EQ(by["batch/spark-exec-1"].memory_bytes, 300ull << 20);
  EXPECT_EQ(by["batch/ml-train-0"].memory_bytes, 400ull << 20);
  // Youngest first among equals: started times follow the pods' startTime.
  // (spark started 08:22, ml-train 08:20: spark is 2 minutes younger).
  EXPECT_EQ(by["batch/spark-exec-1"].started - by["batch/ml-train-0"].started,
            std::chrono::minutes(2));
}

TEST(KubernetesMode, EvictsThroughTheApiAndNeverWhatIsNotBe) {
  Mode t;
  t.srv.script("POST /api/v1/namespaces/batch/pods/spark-exec-1/eviction",
               {{201, k8s_fixture("eviction-created.json")}});
  t.srv.script("POST /api/v1/namespaces/batch/pods/ml-train-0/eviction",
               {{429, k8s_fixture("eviction-pdb-429.json")}});
  auto& m = t.make();
  m.step();
  EXPECT_TRUE(m.evict("batch/spark-exec-1", "memory"));
  EXPECT_TRUE(m.evict("batch/spark-exec-1", "memory"));  // queued once
  EXPECT_TRUE(m.evict("batch/ml-train-0", "memory"));
  EXPECT_TRUE(m.evict("default/web-frontend-7d9f8b6c5-x2v8k", "memory"));  // Guaranteed: refused
  EXPECT_TRUE(m.evict("monitoring/node-exporter-7xk2p", "memory"));        // label ls: refused
  EXPECT_TRUE(m.evict("batch/not-on-this-node", "memory"));
  m.step();
  EXPECT_EQ(t.count("POST /api/v1/namespaces/batch/pods/spark-exec-1/eviction"), 1);
  EXPECT_EQ(t.count("POST /api/v1/namespaces/batch/pods/ml-train-0/eviction"), 1);
  for (auto& r : t.srv.requests()) {
    EXPECT_EQ(r.path.find("web-frontend"), std::string::npos);
    EXPECT_EQ(r.path.find("node-exporter"), std::string::npos);
    EXPECT_EQ(r.path.find("not-on-this-node"), std::string::npos);
  }
  auto res = m.eviction_results();
  EXPECT_EQ(res.size(), 2u);
  EXPECT_EQ(res["batch/spark-exec-1"], EvictOutcome::Evicted);
  EXPECT_EQ(res["batch/ml-train-0"], EvictOutcome::Blocked);
  EXPECT_TRUE(t.signals.empty());
}

TEST(KubernetesMode, KillFallbackStaysInsideTheBox) {
  Mode t;
  // The API server is unreachable: a closed port.
  int port;
  {
    FakeKubeServer gone;
    port = gone.port();
  }
  t.cfg.kubernetes.api_server = "http://127.0.0.1:" + std::to_string(port);
  t.cfg.kubernetes.request_timeout_ns = 200'000'000;
  t.cfg.kubernetes.eviction.fallback_kill = true;
  auto& m = t.make();
  m.step();
  m.evict("batch/spark-exec-1", "memory");  // BestEffort: in /kubepods/besteffort
  m.evict("batch/ml-train-0", "memory");    // BE by label, but Burstable: outside the box
  m.step();
  auto res = m.eviction_results();
  EXPECT_EQ(res["batch/spark-exec-1"], EvictOutcome::Killed);
  EXPECT_EQ(res["batch/ml-train-0"], EvictOutcome::Failed);
  // Exactly the processes of the spark pod's cgroups (fixture pids 4020..),
  // with SIGKILL; none of ml-train (4030..).
  std::set<pid_t> want;
  auto tree = discover_pods(t.paths.pod_hierarchy);
  for (auto& p : tree.pods)
    if (p.uid == "9b8a7c6d-5e4f-4321-8fed-cba987654321")
      for (auto& c : p.containers) {
        // Kept alive: split() returns views into it.
        const std::string procs =
            read_file(t.paths.pod_hierarchy + c.rel_path + "/cgroup.procs").value_or("");
        for (auto line : split(procs, '\n'))
          if (!trim(line).empty()) want.insert(std::atoi(std::string(line).c_str()));
      }
  std::set<pid_t> got;
  for (auto& [pid, sig] : t.signals) {
    EXPECT_EQ(sig, SIGKILL);
    got.insert(pid);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(want.size(), 3u);  // the sandbox 1 pid, the executor 2
}

TEST(KubernetesMode, NoFallbackNoKill) {
  Mode t;
  t.cfg.kubernetes.api_server = "http://127.0.0.1:1";
  t.cfg.kubernetes.request_timeout_ns = 200'000'000;
  auto& m = t.make();
  m.step();
  m.evict("batch/spark-exec-1", "memory");
  m.step();
  EXPECT_EQ(m.eviction_results()["batch/spark-exec-1"], EvictOutcome::Failed);
  EXPECT_TRUE(t.signals.empty());
}

TEST(KubernetesMode, NodeGroupPolicyWithoutRestart) {
  Mode t;
  std::string policies = t.tmp.put("policies/policies.yaml",
                                   *read_file(std::string(COLO_SOURCE_DIR) + "/deploy/k8s/base/policies.yaml"));
  t.cfg.kubernetes.node_policies = policies;
  auto& m = t.make();
  m.step();
  // The fixture node is labelled colo.io/node-group=batch.
  auto p = m.take_policy();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->group, "batch");
  EXPECT_DOUBLE_EQ(p->config.policy.cpu_watermark, 0.90);
  EXPECT_DOUBLE_EQ(p->config.eviction.memory.trigger, 0.95);
  EXPECT_FALSE(m.take_policy());  // once
  m.step();
  EXPECT_FALSE(m.take_policy());  // nothing changed
  // The ConfigMap changes (the kubelet rewrites the mounted file).
  std::string text = *read_file(policies);
  text.replace(text.find("cpu_watermark: 0.90"), 19, "cpu_watermark: 0.85");
  t.tmp.put("policies/policies.yaml", text);
  m.step();
  p = m.take_policy();
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->config.policy.cpu_watermark, 0.85);
  // A broken edit: rejected, the last good policy stays (nothing new to apply).
  t.tmp.put("policies/policies.yaml", text + "\nbogus_key: 1\n");
  m.step();
  EXPECT_FALSE(m.take_policy());
  // The node is relabelled: another group after the next labels refresh.
  std::string node = k8s_fixture("node-worker-1.json");
  node.replace(node.find("\"colo.io/node-group\": \"batch\""), 29, "\"colo.io/node-group\": \"frontend\"");
  t.srv.script("GET /api/v1/nodes/worker-1", {{200, node}});
  t.tmp.put("policies/policies.yaml", text);
  t.clock.advance(61s);
  m.step();
  p = m.take_policy();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->group, "frontend");
  EXPECT_DOUBLE_EQ(p->config.policy.cpu_watermark, 0.50);
  ASSERT_EQ(p->config.policy.windows.size(), 1u);
  EXPECT_EQ(p->config.policy.windows[0].name, "peak");
}

}  // namespace
}  // namespace colo::k8s
