#include "agent/k8s/pods.h"

#include <gtest/gtest.h>

#include "k8s_test_server.h"
#include "userspace/cgroup/pods.h"

namespace colo::k8s {
namespace {

using test::k8s_fixture;

const PodInfo* find(const std::vector<PodInfo>& v, const std::string& name) {
  for (auto& p : v)
    if (p.name == name) return &p;
  return nullptr;
}

TEST(PodList, ParsesKubeletFormat) {
  std::string err;
  auto pods = parse_pod_list(k8s_fixture("kubelet-pods-containerd.json"), &err);
  ASSERT_TRUE(pods) << err;
  ASSERT_EQ(pods->size(), 6u);
  auto* api = find(*pods, "api-6c8d94f7b-q9w2e");
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->namespace_, "default");
  EXPECT_EQ(api->uid, "3c2a1b7e-4d5f-4a6b-8c9d-0e1f2a3b4c5d");
  EXPECT_EQ(api->node, "worker-1");
  EXPECT_EQ(api->phase, "Running");
  EXPECT_EQ(api->priority, 1000);
  ASSERT_TRUE(api->qos);
  EXPECT_EQ(*api->qos, QosClass::Burstable);
  EXPECT_EQ(api->labels.at("app"), "api");
  // Init container first, then the app containers; ids without "containerd://".
  ASSERT_EQ(api->containers.size(), 3u);
  EXPECT_EQ(api->containers[0].name, "migrate");
  EXPECT_EQ(api->containers[1].name, "api");
  EXPECT_EQ(api->containers[2].name, "envoy");
  EXPECT_EQ(api->containers[1].runtime, "containerd");
  EXPECT_EQ(api->containers[1].id.size(), 64u);
  EXPECT_EQ(api->containers[1].id.find("://"), std::string::npos);

  auto* pending = find(*pods, "queued-job-abcde");
  ASSERT_NE(pending, nullptr);
  EXPECT_EQ(pending->phase, "Pending");
  EXPECT_TRUE(pending->containers.empty());
  EXPECT_EQ(pending->start_time, "");

  auto crio = parse_pod_list(k8s_fixture("kubelet-pods-cri-o.json"), &err);
  ASSERT_TRUE(crio) << err;
  EXPECT_EQ(find(*crio, "spark-exec-1")->containers[0].runtime, "cri-o");
}

TEST(PodList, RejectsWhatIsNotAPodList) {
  std::string err;
  EXPECT_FALSE(parse_pod_list("{not json", &err));
  EXPECT_NE(err.find("not valid JSON"), std::string::npos);
  EXPECT_FALSE(parse_pod_list(k8s_fixture("node-worker-1.json"), &err));
  EXPECT_NE(err.find("PodList"), std::string::npos);
  EXPECT_FALSE(parse_pod_list("[]", &err));
  // An empty list is fine; items without identity are skipped; wrong types ignored.
  auto p = parse_pod_list(R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":null})", &err);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->empty());
  p = parse_pod_list(R"({"kind":"PodList","items":[
      {"metadata":{"name":"a","namespace":"n"}},
      {"metadata":{"name":"b","namespace":"n","uid":"u","labels":{"x":1}},
       "spec":{"priority":"high"},"status":{"qosClass":"Weird","containerStatuses":[{"name":"c"}]}},
      7]})",
                     &err);
  ASSERT_TRUE(p) << err;
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].name, "b");
  EXPECT_FALSE((*p)[0].qos);
  EXPECT_TRUE((*p)[0].labels.empty());
  EXPECT_TRUE((*p)[0].containers.empty());
}

TEST(PodClass, LabelThenQos) {
  std::string err;
  auto pods = *parse_pod_list(k8s_fixture("kubelet-pods-containerd.json"), &err);
  KubernetesConfig cfg;
  EXPECT_FALSE(is_be_pod(*find(pods, "web-frontend-7d9f8b6c5-x2v8k"), cfg));  // Guaranteed
  EXPECT_FALSE(is_be_pod(*find(pods, "api-6c8d94f7b-q9w2e"), cfg));           // Burstable
  EXPECT_TRUE(is_be_pod(*find(pods, "spark-exec-1"), cfg));                   // BestEffort
  EXPECT_TRUE(is_be_pod(*find(pods, "ml-train-0"), cfg));                     // label be
  EXPECT_FALSE(is_be_pod(*find(pods, "node-exporter-7xk2p"), cfg));           // label ls
  // A different label key: the labels above no longer count.
  cfg.be_label = "example.com/tier";
  EXPECT_FALSE(is_be_pod(*find(pods, "ml-train-0"), cfg));
  EXPECT_TRUE(is_be_pod(*find(pods, "node-exporter-7xk2p"), cfg));
  cfg.be_qos_classes = {"BestEffort", "Burstable"};
  EXPECT_TRUE(is_be_pod(*find(pods, "api-6c8d94f7b-q9w2e"), cfg));
  // Unknown QoS: never BE.
  PodInfo unknown;
  EXPECT_FALSE(is_be_pod(unknown, cfg));
}

struct LabelCase {
  std::string tree, hierarchy, runtime;
};
class Labels_ : public ::testing::TestWithParam<LabelCase> {};

TEST_P(Labels_, EveryContainerCgroupGetsItsPod) {
  const auto& c = GetParam();
  std::string err;
  PodDirectory dir;
  dir.replace(*parse_pod_list(k8s_fixture("kubelet-pods-" + c.runtime + ".json"), &err));
  auto tree = discover_pods(std::string(COLO_FIXTURES_DIR) + "/cgroup/" + c.tree + c.hierarchy);
  ASSERT_EQ(tree.pods.size(), 5u);
  int named = 0, sandboxes = 0;
  for (auto& p : tree.pods) {
    auto info = dir.by_uid(p.uid);
    ASSERT_TRUE(info);
    auto pl = dir.labels_for(p.rel_path);
    ASSERT_EQ(pl.size(), 4u);
    EXPECT_EQ(pl[0], (std::pair<std::string, std::string>{"namespace", info->namespace_}));
    EXPECT_EQ(pl[1], (std::pair<std::string, std::string>{"pod", info->name}));
    EXPECT_EQ(pl[2], (std::pair<std::string, std::string>{"container", ""}));
    EXPECT_EQ(pl[3], (std::pair<std::string, std::string>{"qos_class", qos_name(*info->qos)}));
    for (auto& ct : p.containers) {
      auto l = dir.labels_for(ct.rel_path);
      EXPECT_EQ(l[1].second, info->name);
      bool known = false;
      for (auto& ic : info->containers)
        if (ic.id == ct.id) {
          EXPECT_EQ(l[2].second, ic.name);
          known = true;
          named++;
        }
      if (!known) {
        EXPECT_EQ(l[2].second, "POD");  // the sandbox
        sandboxes++;
      }
    }
  }
  EXPECT_EQ(named, 6);
  EXPECT_EQ(sandboxes, 5);
  // Not a pod: four empty labels; a pod the kubelet has not listed: qos only.
  auto none = dir.labels_for("/system.slice/containerd.service");
  for (auto& [k, v] : none) EXPECT_EQ(v, "") << k;
  auto unlisted = dir.labels_for("/kubepods/besteffort/pod00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(unlisted[1].second, "");
  EXPECT_EQ(unlisted[3].second, "BestEffort");
  // Metric identity: pods by name (no path: it holds uids and container
  // ids), other cgroups by path, unlisted pods not at all (yet).
  for (auto& p : tree.pods)
    for (auto& ct : p.containers) {
      auto ml = dir.metric_labels(ct.rel_path);
      ASSERT_TRUE(ml);
      ASSERT_EQ(ml->size(), 5u);
      EXPECT_EQ((*ml)[0], (std::pair<std::string, std::string>{"cgroup", ""}));
      for (auto& [k, v] : *ml) {
        EXPECT_EQ(v.find(p.uid), std::string::npos) << k << "=" << v;
        EXPECT_EQ(v.find(ct.id), std::string::npos) << k << "=" << v;
      }
      EXPECT_EQ(ml->at(2).second, dir.by_uid(p.uid)->name);
    }
  auto sys = dir.metric_labels("/system.slice/containerd.service");
  ASSERT_TRUE(sys);
  EXPECT_EQ((*sys)[0], (std::pair<std::string, std::string>{"cgroup", "/system.slice/containerd.service"}));
  EXPECT_EQ((*sys)[2].second, "");
  EXPECT_FALSE(dir.metric_labels("/kubepods/besteffort/pod00000000-0000-4000-8000-000000000000"));
}

INSTANTIATE_TEST_SUITE_P(Trees, Labels_,
                         ::testing::Values(LabelCase{"k8s-cgroupfs-v1", "/cpu,cpuacct", "containerd"},
                                           LabelCase{"k8s-systemd-v1", "/cpu,cpuacct", "cri-o"},
                                           LabelCase{"k8s-systemd-v2", "", "containerd"},
                                           LabelCase{"k8s-cgroupfs-v2", "", "cri-o"}),
                         [](const auto& info) {
                           std::string n = info.param.tree.substr(4);
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace colo::k8s
