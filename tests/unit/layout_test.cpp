#include "userspace/cgroup/layout.h"

#include <gtest/gtest.h>

#include "userspace/util/fs.h"

namespace colo {
namespace {

using Names = std::vector<std::string>;
const std::string kFixtures = COLO_FIXTURES_DIR;

std::string fixture(const std::string& rel) {
  auto text = read_file(kFixtures + "/" + rel);
  EXPECT_TRUE(text) << rel;
  return text.value_or("");
}

// A fixture mountinfo with /sys/fs/cgroup moved onto a fixture tree, so that
// cgroup.controllers of v2 mounts can be read.
std::string relocated(const std::string& rel, const std::string& to) {
  std::string text = fixture(rel);
  const std::string from = "/sys/fs/cgroup";
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
    text.replace(pos, from.size(), to);
  return text;
}

TEST(CgroupLayout, HybridFromTexts) {
  const std::string root = kFixtures + "/cgroup/hybrid";
  std::string err;
  auto layout = CgroupLayout::from_texts(root, relocated("proc/hybrid.mountinfo", root),
                                         fixture("proc/hybrid.cgroups"), &err);
  ASSERT_TRUE(layout) << err;
  EXPECT_EQ(layout->root(), root);
  EXPECT_EQ(layout->hierarchies().size(), 7u);

  const Hierarchy* cpu = layout->for_controller("cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->mount, root + "/cpu,cpuacct");
  EXPECT_FALSE(cpu->v2);
  EXPECT_EQ(cpu->id, 2u);
  EXPECT_EQ(cpu->controllers, (Names{"cpu", "cpuacct"}));
  EXPECT_EQ(layout->for_controller("cpuacct"), cpu);

  const Hierarchy* mem = layout->for_controller("memory");
  ASSERT_NE(mem, nullptr);
  EXPECT_EQ(mem->mount, root + "/memory");
  EXPECT_EQ(mem->id, 3u);
  EXPECT_EQ(layout->for_controller("net_prio")->id, 5u);

  const Hierarchy* v2 = layout->unified();
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->mount, root + "/unified");
  EXPECT_TRUE(v2->v2);
  EXPECT_EQ(v2->id, 0u);
  EXPECT_TRUE(v2->controllers.empty());
  EXPECT_FALSE(layout->pure_v2());

  // Not mounted anywhere, or only a name.
  EXPECT_EQ(layout->for_controller("blkio"), nullptr);
  EXPECT_EQ(layout->for_controller("io"), nullptr);
  EXPECT_EQ(layout->for_controller("systemd"), nullptr);
  bool named = false;
  for (const auto& h : layout->hierarchies()) {
    if (h.mount != root + "/systemd") continue;
    named = true;
    EXPECT_FALSE(h.v2);
    EXPECT_EQ(h.controllers, Names{"name=systemd"});
  }
  EXPECT_TRUE(named);
}

TEST(CgroupLayout, PathOfAProcessInEachHierarchy) {
  auto entries = parse_proc_cgroup(
      "12:memory:/kubepods/burstable/pod1/c1\n"
      "4:cpu,cpuacct:/kubepods/burstable/pod1/c1\n"
      "1:name=systemd:/kubepods/burstable/pod1/c1\n"
      "0::/kubepods/burstable/pod1/c1-v2\n");
  ASSERT_TRUE(entries);
  Hierarchy cpu{"/sys/fs/cgroup/cpu,cpuacct", false, 4, {"cpu", "cpuacct"}};
  Hierarchy v2{"/sys/fs/cgroup/unified", true, 0, {}};
  Hierarchy blkio{"/sys/fs/cgroup/blkio", false, 7, {"blkio"}};
  EXPECT_EQ(path_in(*entries, cpu), "/kubepods/burstable/pod1/c1");
  EXPECT_EQ(path_in(*entries, v2), "/kubepods/burstable/pod1/c1-v2");
  EXPECT_EQ(path_in(*entries, blkio), std::nullopt);
  auto pure = parse_proc_cgroup("0::/system.slice/colo.service\n");
  ASSERT_TRUE(pure);
  EXPECT_EQ(path_in(*pure, v2), "/system.slice/colo.service");
  EXPECT_EQ(path_in(*pure, cpu), std::nullopt);
}

TEST(CgroupLayout, PureV2FromTexts) {
  const std::string root = kFixtures + "/cgroup/v2";
  std::string err;
  auto layout = CgroupLayout::from_texts(root + "/", relocated("proc/v2.mountinfo", root),
                                         fixture("proc/v2.cgroups"), &err);
  ASSERT_TRUE(layout) << err;
  EXPECT_EQ(layout->root(), root);
  ASSERT_EQ(layout->hierarchies().size(), 1u);
  const Hierarchy* v2 = layout->unified();
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->mount, root);
  EXPECT_EQ(v2->controllers,
            (Names{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}));
  EXPECT_TRUE(layout->pure_v2());
  EXPECT_EQ(layout->for_controller("cpu"), v2);
  EXPECT_EQ(layout->for_controller("memory"), v2);
  // Enabled in /proc/cgroups but not a v2 controller.
  EXPECT_EQ(layout->for_controller("cpuacct"), nullptr);
}

TEST(CgroupLayout, ContainerSeesHostHierarchiesUnderHostRoot) {
  std::string err;
  auto host = CgroupLayout::from_texts("/host/sys/fs/cgroup", fixture("proc/container.mountinfo"),
                                       fixture("proc/container.cgroups"), &err);
  ASSERT_TRUE(host) << err;
  EXPECT_EQ(host->hierarchies().size(), 6u);
  ASSERT_NE(host->for_controller("cpu"), nullptr);
  EXPECT_EQ(host->for_controller("cpu")->mount, "/host/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(host->for_controller("cpu")->id, 2u);
  EXPECT_EQ(host->for_controller("memory")->mount, "/host/sys/fs/cgroup/memory");
  ASSERT_NE(host->unified(), nullptr);
  EXPECT_EQ(host->unified()->mount, "/host/sys/fs/cgroup/unified");
  EXPECT_FALSE(host->pure_v2());

  auto own = CgroupLayout::from_texts("/sys/fs/cgroup", fixture("proc/container.mountinfo"),
                                      fixture("proc/container.cgroups"), &err);
  ASSERT_TRUE(own) << err;
  EXPECT_EQ(own->hierarchies().size(), 5u);
  EXPECT_EQ(own->for_controller("cpu")->mount, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(own->unified(), nullptr);
}

TEST(CgroupLayout, SameHierarchyTwiceKeepsTheWholeOne) {
  // Under "/" both the container's view (mount root /docker/...) and the host's
  // bind mount (mount root /) qualify; only the latter shows every cgroup.
  std::string err;
  auto layout = CgroupLayout::from_texts("/", fixture("proc/container.mountinfo"),
                                         fixture("proc/container.cgroups"), &err);
  ASSERT_TRUE(layout) << err;
  EXPECT_EQ(layout->hierarchies().size(), 6u);
  EXPECT_EQ(layout->for_controller("cpu")->mount, "/host/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout->for_controller("pids")->mount, "/host/sys/fs/cgroup/pids");
}

TEST(CgroupLayout, MountinfoEdgeCases) {
  const std::string mountinfo =
      "garbage\n"
      "\n"
      "40 30 0:40 / /mnt/other rw - cgroup cgroup rw,blkio\n"
      "41 30 0:41 / /c/my\\040cgroups/cpu rw shared:3 master:1 - cgroup cgroup rw,cpu\n"
      "42 30 0:42 / /c/memory rw - cgroup cgroup rw,memory\n"
      "43 30 0:43 / /c/memory rw - cgroup cgroup rw,pids\n"
      "44 30 0:44 / /c/short rw - cgroup\n"
      "45 30 0:45 / /c/named rw - cgroup cgroup rw,xattr,cpuset,name=mine\n";
  const std::string cgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
                              "cpu\t3\t1\t1\nmemory\t4\t1\t1\npids\t5\t1\t1\ncpuset\t6\t1\t1\n"
                              "blkio\t7\t1\t1\n";
  std::string err;
  auto layout = CgroupLayout::from_texts("/c/", mountinfo, cgroups, &err);
  ASSERT_TRUE(layout) << err;
  EXPECT_EQ(layout->root(), "/c");
  EXPECT_EQ(layout->hierarchies().size(), 3u);
  ASSERT_NE(layout->for_controller("cpu"), nullptr);
  EXPECT_EQ(layout->for_controller("cpu")->mount, "/c/my cgroups/cpu");
  EXPECT_EQ(layout->for_controller("cpu")->id, 3u);
  // The later mount on /c/memory hides the first.
  EXPECT_EQ(layout->for_controller("memory"), nullptr);
  ASSERT_NE(layout->for_controller("pids"), nullptr);
  EXPECT_EQ(layout->for_controller("pids")->mount, "/c/memory");
  EXPECT_EQ(layout->for_controller("blkio"), nullptr);  // outside the root
  ASSERT_NE(layout->for_controller("cpuset"), nullptr);
  EXPECT_EQ(layout->for_controller("cpuset")->controllers, (Names{"cpuset", "name=mine"}));
  EXPECT_EQ(layout->for_controller("cpuset")->id, 6u);
  EXPECT_EQ(layout->unified(), nullptr);
  EXPECT_FALSE(layout->pure_v2());
}

TEST(CgroupLayout, WithoutProcCgroupsKnownControllersStillCount) {
  std::string err;
  auto layout = CgroupLayout::from_texts("/sys/fs/cgroup", fixture("proc/hybrid.mountinfo"), "",
                                         &err);
  ASSERT_TRUE(layout) << err;
  ASSERT_NE(layout->for_controller("cpu"), nullptr);
  EXPECT_EQ(layout->for_controller("cpu")->controllers, (Names{"cpu", "cpuacct"}));
  EXPECT_EQ(layout->for_controller("cpu")->id, 0u);
}

TEST(CgroupLayout, NoMountsIsAnError) {
  std::string err;
  EXPECT_FALSE(CgroupLayout::from_texts("/sys/fs/cgroup", "", "", &err));
  EXPECT_NE(err.find("/sys/fs/cgroup"), std::string::npos) << err;
  err.clear();
  EXPECT_FALSE(CgroupLayout::from_texts("/elsewhere", fixture("proc/hybrid.mountinfo"),
                                        fixture("proc/hybrid.cgroups"), &err));
  EXPECT_FALSE(err.empty());
}

TEST(CgroupLayout, HybridFromTree) {
  const std::string root = kFixtures + "/cgroup/hybrid";
  std::string err;
  auto layout = CgroupLayout::from_tree(root, &err);
  ASSERT_TRUE(layout) << err;
  // The cpu, cpuacct, net_cls and net_prio symlinks don't count.
  ASSERT_EQ(layout->hierarchies().size(), 7u);
  const Hierarchy* cpu = layout->for_controller("cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->mount, root + "/cpu,cpuacct");
  EXPECT_EQ(cpu->id, 1u);
  EXPECT_EQ(cpu->controllers, (Names{"cpu", "cpuacct"}));
  EXPECT_EQ(layout->for_controller("cpuacct"), cpu);
  EXPECT_EQ(layout->for_controller("cpuset")->id, 2u);
  EXPECT_EQ(layout->for_controller("memory")->id, 3u);
  EXPECT_EQ(layout->for_controller("net_cls")->id, 4u);
  EXPECT_EQ(layout->for_controller("pids")->id, 5u);
  EXPECT_EQ(layout->for_controller("systemd"), nullptr);
  ASSERT_NE(layout->unified(), nullptr);
  EXPECT_EQ(layout->unified()->mount, root + "/unified");
  EXPECT_TRUE(layout->unified()->controllers.empty());
  EXPECT_FALSE(layout->pure_v2());
  for (const auto& h : layout->hierarchies()) {
    if (h.mount == root + "/systemd") {
      EXPECT_EQ(h.controllers, Names{"name=systemd"});
    }
  }
}

TEST(CgroupLayout, PureV2FromTree) {
  const std::string root = kFixtures + "/cgroup/v2";
  std::string err;
  auto layout = CgroupLayout::from_tree(root, &err);
  ASSERT_TRUE(layout) << err;
  ASSERT_EQ(layout->hierarchies().size(), 1u);
  EXPECT_TRUE(layout->pure_v2());
  EXPECT_EQ(layout->unified()->mount, root);
  EXPECT_EQ(layout->for_controller("memory"), layout->unified());
  EXPECT_EQ(layout->for_controller("cpuacct"), nullptr);
}

TEST(CgroupLayout, FromTreeErrors) {
  std::string err;
  EXPECT_FALSE(CgroupLayout::from_tree(kFixtures + "/does-not-exist", &err));
  EXPECT_FALSE(err.empty());
  err.clear();
  // A directory holding only files is no cgroup tree.
  EXPECT_FALSE(CgroupLayout::from_tree(kFixtures + "/cgroup/hybrid/memory", &err));
  EXPECT_FALSE(err.empty());
}

TEST(CgroupLayout, DiscoverLiveHybridHost) {
  if (!is_dir("/sys/fs/cgroup/unified")) GTEST_SKIP() << "not a v1-hybrid host";
  std::string err;
  auto layout = CgroupLayout::discover("/sys/fs/cgroup", &err);
  ASSERT_TRUE(layout) << err;
  for (const char* c : {"cpu", "memory"}) {
    const Hierarchy* h = layout->for_controller(c);
    ASSERT_NE(h, nullptr) << c;
    EXPECT_FALSE(h->v2) << c;
    EXPECT_GT(h->id, 0u) << c;
    EXPECT_EQ(h->mount.rfind("/sys/fs/cgroup/", 0), 0u) << h->mount;
    EXPECT_TRUE(is_dir(h->mount)) << h->mount;
  }
  EXPECT_NE(layout->for_controller("cpu")->id, layout->for_controller("memory")->id);
  ASSERT_NE(layout->unified(), nullptr);
  EXPECT_EQ(layout->unified()->mount, "/sys/fs/cgroup/unified");
  EXPECT_FALSE(layout->pure_v2());
}

}  // namespace
}  // namespace colo
