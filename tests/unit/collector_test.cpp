// The collector on fixture trees, without BPF (cgroupfs-only mode).
#include "agent/collector.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace colo {
namespace {
namespace fs = std::filesystem;

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A pure v2 tree with PSI files, a big box and a system slice.
    for (const char* d : {"", "/svc", "/bigbox", "/bigbox/job1", "/system.slice"}) {
      fs::create_directories(root_ + d);
      std::ofstream(root_ + d + "/cgroup.procs");
    }
    std::ofstream(root_ + "/cgroup.controllers") << "cpu memory io\n";
    std::ofstream(root_ + "/svc/cpu.pressure")
        << "some avg10=1.50 avg60=0.00 avg300=0.00 total=2500000\n"
           "full avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n";
    std::ofstream(root_ + "/svc/memory.pressure")
        << "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"
           "full avg10=0.00 avg60=0.00 avg300=0.00 total=3\n";
  }

  Collector make(CollectorOptions opts = {}) {
    Config cfg;
    cfg.cgroup.root = root_;
    cfg.cgroup.bigbox = "/bigbox";
    cfg.cgroup.system = {"/system.slice"};
    std::string err;
    auto layout = CgroupLayout::from_tree(root_, &err);
    EXPECT_TRUE(layout) << err;
    return Collector(cfg, *layout, Topology{}, nullptr, std::move(opts));
  }
  void put_psi(const std::string& rel, uint64_t total) {
    fs::create_directories(root_ + rel);
    std::ofstream(root_ + rel + "/cpu.pressure")
        << "some avg10=0.00 avg60=0.00 avg300=0.00 total=" << total << "\n";
  }
  static uint64_t cpu_total(const Snapshot& s, const std::string& path) {
    auto it = s.cgroups.find(path);
    if (it == s.cgroups.end() || !it->second.psi_cpu || !it->second.psi_cpu->some) return 0;
    return it->second.psi_cpu->some->total_us;
  }
  test::TempDir tmp_{"colo-collector"};
  const std::string root_ = tmp_.path();
};

TEST_F(CollectorTest, ClassifiesByBoxAndSystemSlices) {
  Collector c = make();
  EXPECT_EQ(c.classify("/bigbox"), "be");
  EXPECT_EQ(c.classify("/bigbox/job1"), "be");
  EXPECT_EQ(c.classify("/bigboxer"), "ls");
  EXPECT_EQ(c.classify("/system.slice/sshd.service"), "system");
  EXPECT_EQ(c.classify("/svc"), "ls");
  EXPECT_EQ(c.classify("/"), "ls");
}

TEST_F(CollectorTest, TheBoxWhereAControllerHasItElsewhereIsBe) {
  Config cfg;
  cfg.cgroup.root = root_;
  cfg.cgroup.bigbox = "/bigbox";
  cfg.cgroup.bigbox_paths = {{"memory", "/mine/bigbox"}};
  std::string err;
  auto layout = CgroupLayout::from_tree(root_, &err);
  ASSERT_TRUE(layout) << err;
  Collector c(cfg, *layout, Topology{}, nullptr);
  EXPECT_EQ(c.classify("/mine/bigbox"), "be");
  EXPECT_EQ(c.classify("/mine/bigbox/job1"), "be");
  EXPECT_EQ(c.classify("/mine"), "ls");
  EXPECT_EQ(c.classify("/bigbox"), "be");
}

TEST(LsReclaimStall, FromTheKernelsCountersOrWithoutBpfFromPsi) {
  Snapshot prev, cur;
  prev.bpf_active = cur.bpf_active = true;
  auto mem = [](Snapshot& s, const std::string& path, const std::string& cls, uint64_t direct_ns,
                uint64_t memcg_ns) {
    CgroupSignals& c = s.cgroups[path];
    c.cls = cls;
    c.has_mem = true;
    c.mem.direct_reclaim_ns = direct_ns;
    c.mem.memcg_reclaim_ns = memcg_ns;
  };
  mem(prev, "/svc", "ls", 1000000, 0);
  mem(cur, "/svc", "ls", 5000000, 20000000);
  mem(prev, "/idle", "ls", 7, 7);
  mem(cur, "/idle", "ls", 7, 7);
  mem(cur, "/bigbox/job", "be", 0, 50000000);    // BE's own: not LS stall
  mem(cur, "/system.slice/x", "system", 9000000, 0);
  mem(cur, "/", "ls", 3000000, 0);               // the root: left out
  auto st = ls_reclaim_stall(prev, cur);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_DOUBLE_EQ(st["/svc"].direct_s, 0.004);
  EXPECT_DOUBLE_EQ(st["/svc"].memcg_s, 0.020);
  // Without BPF: PSI memory "some" stall time, between two readings only.
  Snapshot p2, c2;
  auto psi = [](Snapshot& s, const std::string& path, uint64_t total_us) {
    CgroupSignals& c = s.cgroups[path];
    c.cls = "ls";
    c.psi_memory = Psi{PsiLine{0, 0, 0, total_us}, std::nullopt};
  };
  psi(p2, "/svc", 1000);
  psi(c2, "/svc", 6000);
  psi(c2, "/new", 90000);  // no earlier reading: says nothing
  psi(p2, "/", 0);
  psi(c2, "/", 80000);
  auto st2 = ls_reclaim_stall(p2, c2);
  ASSERT_EQ(st2.size(), 1u) << st2.begin()->first;
  EXPECT_DOUBLE_EQ(st2["/svc"].memcg_s, 0.005);
  EXPECT_EQ(st2["/svc"].direct_s, 0);
}

TEST_F(CollectorTest, ReadsPsiOfV2CgroupsWithoutBpf) {
  Collector c = make();
  Snapshot s = c.collect();
  EXPECT_FALSE(s.bpf_active);
  ASSERT_TRUE(s.cgroups.count("/svc"));
  const CgroupSignals& svc = s.cgroups.at("/svc");
  EXPECT_EQ(svc.cls, "ls");
  ASSERT_TRUE(svc.psi_cpu && svc.psi_cpu->some && svc.psi_cpu->full);
  EXPECT_EQ(svc.psi_cpu->some->total_us, 2500000u);
  EXPECT_EQ(svc.psi_cpu->full->total_us, 1000000u);
  ASSERT_TRUE(svc.psi_memory && svc.psi_memory->full);
  EXPECT_EQ(svc.psi_memory->full->total_us, 3u);
  EXPECT_FALSE(svc.psi_io);
  EXPECT_FALSE(svc.has_sched);
  // The box has no PSI files here: no entry rather than zeros.
  EXPECT_FALSE(s.cgroups.count("/bigbox/job1"));
}

TEST_F(CollectorTest, VanishedCgroupIsSkipped) {
  Collector c = make();
  c.collect();
  fs::remove_all(root_ + "/svc");
  Snapshot s = c.collect();
  EXPECT_FALSE(s.cgroups.count("/svc"));
}

// With the kernel's count of cgroup changes, a cgroup made since the last
// walk is seen as soon as the count moves, and without it within walk_every
// collections (a missed event); nothing is walked in between.
TEST_F(CollectorTest, WalksTheHierarchiesWhenTheKernelSawThemChange) {
  uint32_t gen = 7;
  CollectorOptions o;
  o.tree_gen = [&] { return gen; };
  o.walk_every = 4;
  Collector c = make(o);
  c.collect();
  put_psi("/new1", 11);
  EXPECT_EQ(cpu_total(c.collect(), "/new1"), 0u) << "walked although nothing changed";
  gen++;
  EXPECT_EQ(cpu_total(c.collect(), "/new1"), 11u) << "the count moved: walk";
  put_psi("/new2", 22);
  // Collections 1..3 after that walk do not walk; the 4th does.
  for (int i = 1; i < 4; i++) EXPECT_EQ(cpu_total(c.collect(), "/new2"), 0u) << i;
  EXPECT_EQ(cpu_total(c.collect(), "/new2"), 22u) << "not walked within walk_every collections";
  // Without the kernel's count: at every collection.
  Collector every = make();
  every.collect();
  put_psi("/new3", 33);
  EXPECT_EQ(cpu_total(every.collect(), "/new3"), 33u);
}

// PSI in turn: each collection reads psi_per_collect cgroups (and the root);
// the others keep their last reading, every cgroup is read within
// ceil(n / psi_per_collect) collections, and a removed one is dropped.
TEST_F(CollectorTest, PsiIsReadInTurnWithinABudget) {
  for (int i = 0; i < 6; i++) put_psi("/p" + std::to_string(i), 100 + i);
  put_psi("", 1);  // the root
  CollectorOptions o;
  o.psi_per_collect = 3;
  Collector c = make(o);
  Snapshot s;
  // 11 cgroups with the fixture's: every one read within 4 collections.
  for (int i = 0; i < 4; i++) s = c.collect();
  for (int i = 0; i < 6; i++) EXPECT_EQ(cpu_total(s, "/p" + std::to_string(i)), 100u + i) << i;
  for (int i = 0; i < 6; i++) put_psi("/p" + std::to_string(i), 200 + i);
  put_psi("", 2);
  s = c.collect();
  int fresh = 0, kept = 0;
  for (int i = 0; i < 6; i++) {
    const uint64_t v = cpu_total(s, "/p" + std::to_string(i));
    fresh += v == 200u + i;
    kept += v == 100u + i;
  }
  EXPECT_LE(fresh, 3);
  EXPECT_EQ(fresh + kept, 6) << "a cgroup not read this time lost its reading";
  EXPECT_EQ(cpu_total(s, "/"), 2u) << "the root is read at every collection";
  for (int i = 0; i < 3; i++) s = c.collect();
  for (int i = 0; i < 6; i++) EXPECT_EQ(cpu_total(s, "/p" + std::to_string(i)), 200u + i) << i;
  fs::remove_all(root_ + "/p3");
  s = c.collect();
  EXPECT_FALSE(s.cgroups.count("/p3"));
}

}  // namespace
}  // namespace colo
