#include "userspace/topology/topology.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include "support/temp_dir.h"

namespace colo {
namespace {

using Cpus = std::vector<int>;
using Cores = std::vector<Cpus>;

Topology read_fixture(const std::string& name) {
  std::string err;
  auto topo = read_topology(std::string(COLO_FIXTURES_DIR) + "/sysfs/" + name, &err);
  EXPECT_TRUE(topo) << name << ": " << err;
  return topo.value_or(Topology{});
}

TEST(Topology, SmtTwoThreadsFourCores) {
  Topology t = read_fixture("smt2x4");
  EXPECT_EQ(t.possible, (Cpus{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(t.online, (Cpus{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(t.cores, (Cores{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_TRUE(t.smt());
  EXPECT_EQ(t.sibling_of(0), 4);
  EXPECT_EQ(t.sibling_of(5), 1);
  ASSERT_NE(t.core_of(6), nullptr);
  EXPECT_EQ(*t.core_of(6), (Cpus{2, 6}));
  EXPECT_EQ(t.core_of(8), nullptr);
  EXPECT_EQ(t.sibling_of(8), -1);
}

TEST(Topology, NoSmt) {
  Topology t = read_fixture("nosmt2");
  EXPECT_EQ(t.online, (Cpus{0, 1}));
  EXPECT_EQ(t.cores, (Cores{{0}, {1}}));
  EXPECT_FALSE(t.smt());
  EXPECT_EQ(t.sibling_of(0), -1);
  EXPECT_EQ(*t.core_of(1), Cpus{1});
}

TEST(Topology, OfflineCpuIsLeftOut) {
  // cpu2 is offline; cpu0's stale sibling list still names it.
  Topology t = read_fixture("offline");
  EXPECT_EQ(t.possible, (Cpus{0, 1, 2, 3}));
  EXPECT_EQ(t.online, (Cpus{0, 1, 3}));
  EXPECT_EQ(t.cores, (Cores{{0}, {1, 3}}));
  EXPECT_EQ(t.core_of(2), nullptr);
  EXPECT_EQ(t.sibling_of(0), -1);
  EXPECT_EQ(t.sibling_of(3), 1);
}

TEST(Topology, CoreIdFallbackTellsPackagesApart) {
  Topology t = read_fixture("coreid");
  EXPECT_EQ(t.cores, (Cores{{0, 2}, {1, 3}}));
  EXPECT_EQ(t.sibling_of(2), 0);
}

class TopologyTreeTest : public ::testing::Test {
 protected:
  void put(const std::string& rel, const std::string& content) {
    tmp_.put("devices/system/cpu/" + rel, content);
  }
  test::TempDir tmp_{"colo-topo-test"};
  const std::string root_ = tmp_.path();
};

TEST_F(TopologyTreeTest, MissingOnlineIsAnError) {
  std::string err;
  EXPECT_FALSE(read_topology(root_, &err));
  EXPECT_NE(err.find("online"), std::string::npos) << err;
}

TEST_F(TopologyTreeTest, MalformedFilesAreErrors) {
  put("online", "0-x\n");
  std::string err;
  EXPECT_FALSE(read_topology(root_, &err));
  EXPECT_NE(err.find("online"), std::string::npos) << err;
  put("online", "0\n");
  put("cpu0/topology/thread_siblings_list", "zero\n");
  EXPECT_FALSE(read_topology(root_, &err));
  EXPECT_NE(err.find("thread_siblings_list"), std::string::npos) << err;
}

TEST_F(TopologyTreeTest, MinimalTree) {
  // Only online, no possible, no topology files at all: single-CPU cores.
  put("online", "0-1\n");
  put("cpu0/topology/.keep", "");
  put("cpu1/topology/.keep", "");
  std::string err;
  auto t = read_topology(root_, &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->possible, (Cpus{0, 1}));
  EXPECT_EQ(t->cores, (Cores{{0}, {1}}));
}

TEST(Topology, LiveMachinePartitionsOnlineCpus) {
  std::string err;
  auto t = read_topology("/sys", &err);
  if (!t) GTEST_SKIP() << err;
  ASSERT_FALSE(t->online.empty());
  size_t in_cores = 0;
  for (const auto& core : t->cores) in_cores += core.size();
  EXPECT_EQ(in_cores, t->online.size());
  for (int cpu : t->online) EXPECT_NE(t->core_of(cpu), nullptr) << cpu;
}

TEST(TopologyOverride, PairsBecomeOneCore) {
  Topology t = read_fixture("nosmt2");
  std::string err;
  ASSERT_TRUE(apply_sibling_override(t, {{0, 1}}, &err)) << err;
  EXPECT_EQ(t.cores, (Cores{{0, 1}}));
  EXPECT_TRUE(t.smt());
  EXPECT_EQ(t.sibling_of(0), 1);
  EXPECT_EQ(t.sibling_of(1), 0);
}

TEST(TopologyOverride, OverrideReplacesSysfsPairing) {
  Topology t = read_fixture("smt2x4");
  std::string err;
  ASSERT_TRUE(apply_sibling_override(t, {{0, 1}}, &err)) << err;
  EXPECT_EQ(t.cores, (Cores{{0, 1}, {2, 6}, {3, 7}, {4}, {5}}));
}

TEST(TopologyOverride, ChainedPairsJoin) {
  Topology t = read_fixture("coreid");
  std::string err;
  ASSERT_TRUE(apply_sibling_override(t, {{0, 1}, {1, 2}}, &err)) << err;
  EXPECT_EQ(t.cores, (Cores{{0, 1, 2}, {3}}));
}

TEST(TopologyOverride, UnknownOrOfflineCpuFails) {
  Topology t = read_fixture("nosmt2");
  const Cores before = t.cores;
  std::string err;
  EXPECT_FALSE(apply_sibling_override(t, {{0, 1}, {0, 7}}, &err));
  EXPECT_NE(err.find("7"), std::string::npos) << err;
  EXPECT_EQ(t.cores, before);

  Topology off = read_fixture("offline");
  err.clear();
  EXPECT_FALSE(apply_sibling_override(off, {{2, 0}}, &err));
  EXPECT_NE(err.find("2"), std::string::npos) << err;

  err.clear();
  EXPECT_FALSE(apply_sibling_override(t, {{1, 1}}, &err));
  EXPECT_FALSE(err.empty());
}

}  // namespace
}  // namespace colo
