#include "userspace/cgroup/pods.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "userspace/util/fs.h"

namespace colo {
namespace {

const std::string kFixtures = COLO_FIXTURES_DIR;
const std::string kHex = "2f125a80bc61bf9c3d67378d1a130eb6efde6999ba150693821b6d6039a3473c";

TEST(PodOfPath, CgroupfsDriver) {
  auto r = pod_of_path("/kubepods/burstable/pod3c2a1b7e-4d5f-4a6b-8c9d-0e1f2a3b4c5d/" + kHex);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->uid, "3c2a1b7e-4d5f-4a6b-8c9d-0e1f2a3b4c5d");
  EXPECT_EQ(r->qos, QosClass::Burstable);
  EXPECT_EQ(r->driver, CgroupDriver::Cgroupfs);
  EXPECT_EQ(r->pod_path, "/kubepods/burstable/pod3c2a1b7e-4d5f-4a6b-8c9d-0e1f2a3b4c5d");
  EXPECT_EQ(r->container_id, kHex);
  EXPECT_EQ(r->runtime, "");

  // Guaranteed pods sit directly below kubepods; the pod cgroup itself.
  r = pod_of_path("/kubepods/pod1f0e7c2a-5b3d-4c1e-9a8f-2d6b4e0c7a11");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->qos, QosClass::Guaranteed);
  EXPECT_EQ(r->container_id, "");
  // CRI-O with cgroupfs: crio-<id>.
  r = pod_of_path("/kubepods/besteffort/pod9b8a7c6d-5e4f-4321-8fed-cba987654321/crio-" + kHex);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->qos, QosClass::BestEffort);
  EXPECT_EQ(r->runtime, "cri-o");
  EXPECT_EQ(r->container_id, kHex);
}

TEST(PodOfPath, SystemdDriver) {
  const std::string pod =
      "/kubepods.slice/kubepods-besteffort.slice/"
      "kubepods-besteffort-pod9b8a7c6d_5e4f_4321_8fed_cba987654321.slice";
  auto r = pod_of_path(pod + "/cri-containerd-" + kHex + ".scope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->uid, "9b8a7c6d-5e4f-4321-8fed-cba987654321");  // '_' back to '-'
  EXPECT_EQ(r->qos, QosClass::BestEffort);
  EXPECT_EQ(r->driver, CgroupDriver::Systemd);
  EXPECT_EQ(r->pod_path, pod);
  EXPECT_EQ(r->runtime, "containerd");
  EXPECT_EQ(r->container_id, kHex);

  r = pod_of_path("/kubepods.slice/kubepods-pod1f0e7c2a_5b3d_4c1e_9a8f_2d6b4e0c7a11.slice/crio-" +
                  kHex + ".scope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->qos, QosClass::Guaranteed);
  EXPECT_EQ(r->runtime, "cri-o");
  EXPECT_FALSE(r->conmon);

  r = pod_of_path("/kubepods.slice/kubepods-pod1f0e7c2a_5b3d_4c1e_9a8f_2d6b4e0c7a11.slice/"
                  "crio-conmon-" + kHex + ".scope");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->conmon);

  r = pod_of_path("/kubepods.slice/kubepods-burstable.slice/"
                  "kubepods-burstable-pod3c2a1b7e_4d5f_4a6b_8c9d_0e1f2a3b4c5d.slice/docker-" +
                  kHex + ".scope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->qos, QosClass::Burstable);
  EXPECT_EQ(r->runtime, "docker");
  // Below a container (a nested cgroup of the workload) still names it.
  r = pod_of_path(pod + "/cri-containerd-" + kHex + ".scope/worker");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->container_id, kHex);
  // kubelet --cgroup-root: kubepods below another cgroup.
  r = pod_of_path("/custom.slice/kubepods.slice/kubepods-pod1f0e7c2a_5b3d_4c1e_9a8f_2d6b4e0c7a11.slice");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pod_path, "/custom.slice/kubepods.slice/kubepods-pod1f0e7c2a_5b3d_4c1e_9a8f_2d6b4e0c7a11.slice");
}

TEST(PodOfPath, NotPods) {
  for (std::string p : {"/", "", "/system.slice/containerd.service", "/kubepods", "/kubepods.slice",
                        "/kubepods/burstable", "/kubepods/besteffort/podnot-a-uid",
                        "/kubepods/besteffort/pod9b8a7c6d-5e4f-4321-8fed-cba98765432",   // short
                        "/kubepods/besteffort/pod9B8A7C6D-5E4F-4321-8FED-CBA987654321",  // upper
                        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podxyz.slice",
                        "/user.slice/pod9b8a7c6d-5e4f-4321-8fed-cba987654321"})
    EXPECT_FALSE(pod_of_path(p)) << p;
  // A pod with an unrecognised child: the pod, no container.
  auto r = pod_of_path("/kubepods/pod1f0e7c2a-5b3d-4c1e-9a8f-2d6b4e0c7a11/not-a-container");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->container_id, "");
}

TEST(ContainerDir, Names) {
  EXPECT_FALSE(parse_container_dir("cri-containerd-xyz.scope"));
  EXPECT_FALSE(parse_container_dir("cri-containerd-" + kHex));  // systemd form lacks .scope
  EXPECT_FALSE(parse_container_dir("init.scope"));
  EXPECT_FALSE(parse_container_dir("abc"));
  auto c = parse_container_dir("crio-conmon-" + kHex);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->conmon);
  EXPECT_EQ(c->id, kHex);
}

// Container ids of the kubelet fixture, by pod uid.
std::map<std::string, std::vector<std::string>> fixture_ids(const std::string& runtime) {
  auto j = nlohmann::json::parse(*read_file(kFixtures + "/k8s/kubelet-pods-" + runtime + ".json"));
  std::map<std::string, std::vector<std::string>> out;
  for (auto& item : j["items"]) {
    auto& v = out[item["metadata"]["uid"]];
    for (auto& cs : item["status"].value("containerStatuses", nlohmann::json::array())) {
      std::string id = cs["containerID"];
      v.push_back(id.substr(id.find("://") + 3));
    }
    std::sort(v.begin(), v.end());
  }
  return out;
}

struct TreeCase {
  std::string tree, hierarchy, runtime;
  CgroupDriver driver;
};

class DiscoverPods : public ::testing::TestWithParam<TreeCase> {};

TEST_P(DiscoverPods, FindsEveryPodAndContainer) {
  const auto& c = GetParam();
  auto t = discover_pods(kFixtures + "/cgroup/" + c.tree + c.hierarchy);
  ASSERT_TRUE(t.driver);
  EXPECT_EQ(*t.driver, c.driver);
  EXPECT_EQ(t.kubepods, c.driver == CgroupDriver::Systemd ? "/kubepods.slice" : "/kubepods");
  ASSERT_EQ(t.pods.size(), 5u);
  auto ids = fixture_ids(c.runtime);
  std::map<std::string, QosClass> want_qos = {
      {"1f0e7c2a-5b3d-4c1e-9a8f-2d6b4e0c7a11", QosClass::Guaranteed},
      {"3c2a1b7e-4d5f-4a6b-8c9d-0e1f2a3b4c5d", QosClass::Burstable},
      {"9b8a7c6d-5e4f-4321-8fed-cba987654321", QosClass::BestEffort},
      {"5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", QosClass::Burstable},
      {"7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9", QosClass::BestEffort}};
  for (auto& p : t.pods) {
    ASSERT_TRUE(want_qos.count(p.uid)) << p.uid;
    EXPECT_EQ(p.qos, want_qos[p.uid]) << p.uid;
    auto ref = pod_of_path(p.rel_path);
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->uid, p.uid);
    // Every container the kubelet lists, plus the sandbox; CRI-O's conmon
    // scopes are left out.
    std::vector<std::string> got;
    for (auto& ct : p.containers) {
      got.push_back(ct.id);
      EXPECT_EQ(ct.runtime, c.driver == CgroupDriver::Cgroupfs && c.runtime == "containerd"
                                ? ""
                                : c.runtime);
      EXPECT_EQ(ct.rel_path.rfind(p.rel_path + "/", 0), 0u);
    }
    EXPECT_EQ(got.size(), ids[p.uid].size() + 1) << p.rel_path;
    for (auto& id : ids[p.uid])
      EXPECT_NE(std::find(got.begin(), got.end(), id), got.end()) << id;
  }
  EXPECT_EQ(t.pods.front().rel_path < t.pods.back().rel_path, true);
}

INSTANTIATE_TEST_SUITE_P(
    Trees, DiscoverPods,
    ::testing::Values(TreeCase{"k8s-cgroupfs-v1", "/cpu,cpuacct", "containerd", CgroupDriver::Cgroupfs},
                      TreeCase{"k8s-cgroupfs-v1", "/memory", "containerd", CgroupDriver::Cgroupfs},
                      TreeCase{"k8s-systemd-v1", "/cpu,cpuacct", "cri-o", CgroupDriver::Systemd},
                      TreeCase{"k8s-systemd-v2", "", "containerd", CgroupDriver::Systemd},
                      TreeCase{"k8s-cgroupfs-v2", "", "cri-o", CgroupDriver::Cgroupfs}),
    [](const auto& info) {
      std::string n = info.param.tree + info.param.hierarchy;
      std::replace_if(n.begin(), n.end(), [](char ch) { return !isalnum(ch); }, '_');
      return n;
    });

TEST(DiscoverPodsTree, NoKubepods) {
  auto t = discover_pods(kFixtures + "/cgroup/v2");
  EXPECT_FALSE(t.driver);
  EXPECT_TRUE(t.pods.empty());
  EXPECT_FALSE(discover_pods("/nonexistent/colo-test").driver);
}

TEST(Besteffort, PathPerDriver) {
  EXPECT_EQ(besteffort_path(CgroupDriver::Cgroupfs), "/kubepods/besteffort");
  EXPECT_EQ(besteffort_path(CgroupDriver::Systemd), "/kubepods.slice/kubepods-besteffort.slice");
}

}  // namespace
}  // namespace colo
