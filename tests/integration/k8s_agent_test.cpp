// The real agent binary in Kubernetes mode, end to end, against a recorded
// kubelet and API server on 127.0.0.1 and a v2 kubepods tree in a temp dir
// (a copy of tests/fixtures/cgroup/k8s-systemd-v2 with every cgroup.procs
// emptied, so no real process is ever touched; --dry-run on top). BPF off:
// the pod labels are checked on the PSI series read from the tree.
#include <gtest/gtest.h>

#include <regex>
#include <signal.h>

#include <filesystem>
#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/privileged.h"
#include "support/temp_dir.h"
#include "unit/k8s_test_server.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

namespace fs = std::filesystem;

TEST(KubernetesAgent, LabelsResourcesAndNodeGroupPolicy) {
  COLO_REQUIRE_ROOT();
  TempDir tmp{"colo-k8s-agent"};
  const std::string root = tmp.path() + "/cgroup";
  fs::copy(std::string(COLO_FIXTURES_DIR) + "/cgroup/k8s-systemd-v2", root, fs::copy_options::recursive);
  const std::string psi =
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=20\n";
  for (auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_directory()) continue;
    std::ofstream(e.path() / "cgroup.procs") << "";
    std::ofstream(e.path() / "cpu.pressure") << psi;
  }
  std::ofstream(root + "/cpu.pressure") << psi;
  const std::string box = root + "/kubepods.slice/kubepods-besteffort.slice";
  for (const char* f : {"cpu.weight", "cpu.idle", "memory.high", "cpuset.cpus"}) std::ofstream(box + "/" + f) << "";
  std::ofstream(box + "/cpu.max") << "max 100000\n";
  std::ofstream(box + "/memory.max") << "max\n";

  FakeKubeServer srv;
  srv.script("GET /pods", {{200, k8s_fixture("kubelet-pods-containerd.json")}});
  srv.script("GET /api/v1/nodes/worker-1", {{200, k8s_fixture("node-worker-1.json")}});
  srv.script("PATCH /api/v1/nodes/worker-1/status", {{200, k8s_fixture("node-worker-1.json")}});
  srv.script("POST /api/v1/namespaces/batch/pods/spark-exec-1/eviction",
             {{201, k8s_fixture("eviction-created.json")}});
  srv.script("POST /api/v1/namespaces/batch/pods/ml-train-0/eviction",
             {{429, k8s_fixture("eviction-pdb-429.json")}});
  std::string token = tmp.put("token", "e2e-token\n");
  std::string policies = tmp.put("policies/policies.yaml",
                                 *read_file(std::string(COLO_SOURCE_DIR) + "/deploy/k8s/base/policies.yaml"));

  std::ostringstream cfg;
  cfg << "agent: {collect_interval: 200ms}\n"
      << "cgroup:\n  root: " << root << "\n  bigbox: /kubepods.slice/kubepods-besteffort.slice\n"
      << "  bigbox_create: false\n  manage_bigbox: true\n  system: [/system.slice]\n"
      << "bpf: {attach: none}\nnetwork: {interfaces: []}\neviction: {enabled: false}\n"
      << "topology: {sysfs_root: " << COLO_FIXTURES_DIR << "/sysfs/nosmt2}\n"
      << "kubernetes:\n  enabled: true\n  node_name: worker-1\n"
      << "  api_server: " << srv.url() << "\n  kubelet_url: " << srv.url() << "/pods\n"
      << "  token_file: " << token << "\n  pod_refresh: 1s\n  node_labels_refresh: 1s\n"
      << "  resources: {max_interval: 2s}\n  node_policies: " << policies << "\n";
  // The agent itself runs in a cgroup of its own in the real unified
  // hierarchy (as in its pod), mirrored in the tree: that cgroup is system.
  TestCgroups own;
  own.create("agent");
  const std::string agent_cg = own.v2_rel("agent");
  fs::create_directories(root + agent_cg);
  std::ofstream(root + agent_cg + "/cpu.pressure") << psi;
  AgentProcess agent(cfg.str(), {"--dry-run"},
                     {"sh", "-c", "echo $$ > " + own.v2_dir("agent") + "/cgroup.procs && exec \"$0\" \"$@\""});
  ASSERT_TRUE(agent.wait_ready()) << agent.log();

  // Metrics carry namespace/pod/container/qos_class for the pods' cgroups.
  std::vector<Sample> s;
  ASSERT_TRUE(eventually([&] {
    s = agent.scrape();
    return metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total",
                  {{"namespace", "batch"}, {"pod", "spark-exec-1"}, {"container", "executor"}})
        .has_value();
  })) << agent.log();
  auto v = metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total",
                  {{"pod", "spark-exec-1"}, {"container", "executor"}, {"qos_class", "BestEffort"}});
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ(*v, 0.0015);
  EXPECT_TRUE(metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total",
                     {{"namespace", "default"}, {"pod", "api-6c8d94f7b-q9w2e"}, {"container", "envoy"},
                      {"qos_class", "Burstable"}}));
  EXPECT_TRUE(metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total",
                     {{"pod", "web-frontend-7d9f8b6c5-x2v8k"}, {"container", ""}, {"qos_class", "Guaranteed"}}));
  EXPECT_TRUE(metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total",
                     {{"cgroup", "/system.slice"}, {"pod", ""}, {"namespace", ""}}));
  EXPECT_TRUE(metric(s, "colo_cgroup_pressure_cpu_waiting_seconds_total",
                     {{"cgroup", agent_cg}, {"class", "system"}}))
      << "colo's own cgroup counts as system:\n" << agent.log();
  EXPECT_NE(agent.log().find("colo's own cgroup " + agent_cg + " counts as system"), std::string::npos)
      << agent.log();
  // Never a uid or a container id: the pods' series carry no cgroup path.
  const std::regex id("[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}|[0-9a-f]{64}");
  size_t pod_series = 0;
  for (auto& x : s) {
    if (x.labels.count("pod") && !x.labels["pod"].empty()) pod_series++;
    for (auto& [k, val] : x.labels)
      EXPECT_FALSE(std::regex_search(val, id)) << x.name << " " << k << "=" << val;
  }
  EXPECT_GT(pod_series, 0u);

  // The colocatable amounts reach the Node's status.
  nlohmann::json patch;
  ASSERT_TRUE(eventually([&] {
    for (auto& r : srv.requests())
      if (r.method == "PATCH" && r.path == "/api/v1/nodes/worker-1/status") {
        EXPECT_EQ(r.header("Authorization"), "Bearer e2e-token");
        EXPECT_EQ(r.header("Content-Type"), "application/merge-patch+json");
        patch = nlohmann::json::parse(r.body);
        return true;
      }
    return false;
  })) << agent.log();
  auto cpu = patch["status"]["allocatable"]["colo.io/batch-cpu"].get<std::string>();
  EXPECT_FALSE(cpu.empty());
  EXPECT_EQ(cpu.find_first_not_of("0123456789"), std::string::npos) << cpu;
  EXPECT_EQ(patch["status"]["capacity"], patch["status"]["allocatable"]);

  // The node (labelled colo.io/node-group=batch) follows the batch policy;
  // an edit of the policies file is picked up without a restart.
  ASSERT_TRUE(eventually([&] { return agent.log().find("node-group policy 'batch' applied") != std::string::npos; }))
      << agent.log();
  std::string text = *read_file(policies);
  text.replace(text.find("colo.io/node-group: batch"), 25, "colo.io/node-group: other");
  tmp.put("policies/policies.yaml", text);
  ASSERT_TRUE(eventually([&] { return agent.log().find("node-group policy 'default' applied") != std::string::npos; }))
      << agent.log();

  // colo disable --evict: the BE pods go through the Eviction API (PDBs
  // hold), nothing else is evicted, nothing is signalled.
  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--evict", "--socket", agent.socket_path()}, &out), 0) << out;
  auto posts = [&] {
    std::vector<std::string> p;
    for (auto& r : srv.requests())
      if (r.method == "POST") p.push_back(r.path);
    std::sort(p.begin(), p.end());
    return p;
  };
  ASSERT_TRUE(eventually([&] { return posts().size() == 2; })) << agent.log();
  EXPECT_EQ(posts(), (std::vector<std::string>{"/api/v1/namespaces/batch/pods/ml-train-0/eviction",
                                               "/api/v1/namespaces/batch/pods/spark-exec-1/eviction"}));
  for (auto& r : srv.requests())
    if (r.method == "POST") {
      auto body = nlohmann::json::parse(r.body);
      EXPECT_EQ(body["kind"], "Eviction");
      EXPECT_EQ(body["apiVersion"], "policy/v1");
    }
  ASSERT_TRUE(eventually([&] { return agent.log().find("evict batch/ml-train-0 (disabled): blocked") != std::string::npos; }))
      << agent.log();
  // The two evictions are sent and logged independently: wait for each line.
  EXPECT_TRUE(eventually([&] {
    return agent.log().find("evict batch/spark-exec-1 (disabled): evicted") != std::string::npos;
  })) << agent.log();
  auto m = agent.scrape();
  EXPECT_EQ(metric(m, "colo_evictions_total", {{"reason", "disabled"}}).value_or(-1), 2);

  auto rc = agent.stop();
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0) << agent.log();
  // Nothing was written to the tree under --dry-run, and no process was signalled
  // (every cgroup.procs is empty).
  EXPECT_EQ(*read_file(box + "/cpu.max"), "max 100000\n");
}

}  // namespace
}  // namespace colo::test
