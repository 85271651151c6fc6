// The big box driver on fixture trees: v1 (hybrid) and v2 files, write order,
// the ownership guard, dry run, adopt-only.
#include "userspace/cgroup/bigbox.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "userspace/util/fs.h"

namespace colo {
namespace {

using test::TempDir;

std::string slurp(const std::string& p) { return std::string(trim(read_file(p).value_or("?"))); }

// A v1-hybrid host: cpu, cpuset, memory hierarchies and an empty unified one.
struct HybridTree {
  TempDir tmp{"colo-bigbox-v1"};
  HybridTree() {
    tmp.put("cpu/cgroup.procs", "");
    tmp.put("cpuset/cgroup.procs", "");
    tmp.put("cpuset/cpuset.cpus", "0-7\n");
    tmp.put("cpuset/cpuset.mems", "0\n");
    tmp.put("memory/cgroup.procs", "");
    tmp.put("unified/cgroup.controllers", "");
  }
  // The box's files as the kernel would show them.
  void populate_box(const std::string& rel = "colo.slice/bigbox") {
    for (const char* f : {"cpu.shares", "cpu.idle", "cpu.cfs_quota_us", "cgroup.procs"})
      tmp.put("cpu/" + rel + "/" + f, "");
    tmp.put("cpu/" + rel + "/cpu.cfs_period_us", "100000\n");
    tmp.put("cpuset/" + rel + "/cpuset.cpus", "0-7\n");
    tmp.put("cpuset/" + rel + "/cpuset.mems", "0\n");
    tmp.put("memory/" + rel + "/memory.limit_in_bytes", "9223372036854771712\n");
    tmp.put("memory/" + rel + "/cgroup.procs", "");
    tmp.put("unified/" + rel + "/cgroup.procs", "");
  }
  CgroupLayout layout() {
    std::string err;
    auto l = CgroupLayout::from_tree(tmp.path(), &err);
    EXPECT_TRUE(l) << err;
    return *l;
  }
};

TEST(BigBoxV1, DrivesEveryKnob) {
  HybridTree t;
  t.populate_box();
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  const std::string cpu = t.tmp.path() + "/cpu/colo.slice/bigbox";
  EXPECT_EQ(box->set_min_weight(), 0);
  EXPECT_EQ(slurp(cpu + "/cpu.shares"), "2");
  EXPECT_EQ(slurp(cpu + "/cpu.idle"), "1");
  EXPECT_EQ(box->set_cpu_quota(1.5), 0);
  EXPECT_EQ(slurp(cpu + "/cpu.cfs_quota_us"), "150000");
  EXPECT_DOUBLE_EQ(*box->cpu_quota_cores(), 1.5);
  EXPECT_EQ(box->set_cpu_quota(0.001), 0);
  EXPECT_EQ(slurp(cpu + "/cpu.cfs_quota_us"), "1000") << "the kernel's floor";
  EXPECT_EQ(box->set_cpu_quota(-1), 0);
  EXPECT_EQ(slurp(cpu + "/cpu.cfs_quota_us"), "-1");
  EXPECT_FALSE(box->cpu_quota_cores());
  EXPECT_FALSE(box->memory_limit()) << "v1's huge number means unlimited";
  EXPECT_EQ(box->set_memory_limit(1 << 30), 0);
  EXPECT_EQ(*box->memory_limit(), 1u << 30);
  EXPECT_EQ(box->set_memory_limit(0), 0);
  EXPECT_EQ(slurp(t.tmp.path() + "/memory/colo.slice/bigbox/memory.limit_in_bytes"), "-1");
}

TEST(BigBoxV1, NestedCpusetsNarrowBottomUpAndWidenTopDown) {
  HybridTree t;
  t.populate_box();
  t.tmp.put("cpuset/colo.slice/bigbox/job1/cpuset.cpus", "0-7\n");
  t.tmp.put("cpuset/colo.slice/bigbox/job1/task/cpuset.cpus", "0-7\n");
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  const std::string b = t.tmp.path() + "/cpuset/colo.slice/bigbox";
  ASSERT_EQ(box->set_cpuset({2, 3}), 0);
  EXPECT_EQ(slurp(b + "/cpuset.cpus"), "2-3");
  EXPECT_EQ(slurp(b + "/job1/cpuset.cpus"), "2-3");
  EXPECT_EQ(slurp(b + "/job1/task/cpuset.cpus"), "2-3");
  // Narrowing: deepest first, the box last.
  std::vector<std::string> order;
  for (auto& w : box->writes()) order.push_back(w.path.substr(b.size()));
  EXPECT_EQ(order, (std::vector<std::string>{"/job1/task/cpuset.cpus", "/job1/cpuset.cpus",
                                             "/cpuset.cpus"}));
  // Moving to a disjoint set: widen top-down to the union, then narrow bottom-up.
  size_t before = box->writes().size();
  ASSERT_EQ(box->set_cpuset({6, 7}), 0);
  order.clear();
  for (size_t i = before; i < box->writes().size(); i++)
    order.push_back(box->writes()[i].path.substr(b.size()) + "=" + box->writes()[i].value);
  EXPECT_EQ(order, (std::vector<std::string>{
                       "/cpuset.cpus=2-3,6-7", "/job1/cpuset.cpus=2-3,6-7",
                       "/job1/task/cpuset.cpus=2-3,6-7", "/job1/task/cpuset.cpus=6-7",
                       "/job1/cpuset.cpus=6-7", "/cpuset.cpus=6-7"}));
  EXPECT_EQ(box->set_cpuset({}), -EINVAL) << "never empty";
  EXPECT_EQ(*box->cpuset(), (std::vector<int>{6, 7}));
}

TEST(BigBoxV1, CreatesTheBoxInEveryHierarchy) {
  HybridTree t;
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  for (const char* h : {"cpu", "cpuset", "memory", "unified"})
    EXPECT_TRUE(is_dir(t.tmp.path() + "/" + h + "/colo.slice/bigbox")) << h;
  EXPECT_EQ(box->dirs().size(), 4u);
}

// A weight acts only against siblings: the levels colo creates above the box
// get the box's minimum weight and cpu.idle too, or BE would compete with LS
// at the parent's level at the default weight.
TEST(BigBoxV1, LevelsColoCreatesAboveTheBoxGetTheMinimumWeight) {
  HybridTree t;
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  const std::string slice = t.tmp.path() + "/cpu/colo.slice";
  for (const std::string& dir : {slice, slice + "/bigbox"}) {  // as the kernel shows them
    t.tmp.put(dir.substr(t.tmp.path().size() + 1) + "/cpu.shares", "1024\n");
    t.tmp.put(dir.substr(t.tmp.path().size() + 1) + "/cpu.idle", "0\n");
  }
  EXPECT_TRUE(box->owns(slice + "/cpu.idle")) << "colo created it";
  EXPECT_FALSE(box->owns(slice + "/other/cpu.idle")) << "a sibling of the box is not colo's";
  EXPECT_EQ(box->set_min_weight(), 0);
  EXPECT_EQ(slurp(slice + "/cpu.shares"), "2");
  EXPECT_EQ(slurp(slice + "/cpu.idle"), "1");
  EXPECT_EQ(slurp(slice + "/bigbox/cpu.shares"), "2");
  EXPECT_EQ(slurp(slice + "/bigbox/cpu.idle"), "1");
  EXPECT_TRUE(box->normal_weight_levels().empty());
  EXPECT_FALSE(box->owns(t.tmp.path() + "/cpu/cpu.shares")) << "never the hierarchy root";
}

// A parent colo did not create is never written; when it holds nothing but
// the box at a normal weight, it is reported (and logged).
TEST(BigBoxV1, AdoptedParentIsNotWrittenButReportedWhenItHoldsOnlyTheBox) {
  HybridTree t;
  t.populate_box();
  t.tmp.put("cpu/colo.slice/cpu.shares", "1024\n");
  t.tmp.put("cpu/colo.slice/cpu.idle", "0\n");
  t.tmp.put("cpu/colo.slice/cgroup.procs", "");
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  const std::string slice = t.tmp.path() + "/cpu/colo.slice";
  EXPECT_FALSE(box->owns(slice + "/cpu.idle"));
  EXPECT_EQ(box->set_min_weight(), 0);
  EXPECT_EQ(slurp(slice + "/cpu.shares"), "1024") << "not colo's to write";
  EXPECT_EQ(slurp(slice + "/cpu.idle"), "0");
  EXPECT_EQ(slurp(slice + "/bigbox/cpu.idle"), "1");
  EXPECT_EQ(box->normal_weight_levels(), std::vector<std::string>{slice});
  // Idle already: fine.
  t.tmp.put("cpu/colo.slice/cpu.idle", "1\n");
  EXPECT_TRUE(box->normal_weight_levels().empty());
  t.tmp.put("cpu/colo.slice/cpu.idle", "0\n");
  // Tasks of its own, or another subcgroup: the level is shared, as
  // kubepods is with the LS pods, and its weight is right.
  t.tmp.put("cpu/colo.slice/cgroup.procs", "42\n");
  EXPECT_TRUE(box->normal_weight_levels().empty());
  t.tmp.put("cpu/colo.slice/cgroup.procs", "");
  t.tmp.put("cpu/colo.slice/other/cgroup.procs", "");
  EXPECT_TRUE(box->normal_weight_levels().empty());
}

TEST(BigBoxV1, AdoptOnlyRefusesAMissingBox) {
  HybridTree t;
  std::string err;
  BigBox::Options o;
  o.rel_path = "/kubepods/besteffort";
  o.create = false;
  EXPECT_FALSE(BigBox::open(t.layout(), o, &err));
  EXPECT_NE(err.find("/kubepods/besteffort does not exist"), std::string::npos) << err;
  EXPECT_FALSE(is_dir(t.tmp.path() + "/cpu/kubepods"));
}

TEST(BigBoxV1, DryRunWritesNothing) {
  HybridTree t;
  t.populate_box();
  std::string err;
  BigBox::Options o;
  o.dry_run = true;
  auto box = BigBox::open(t.layout(), o, &err);
  ASSERT_TRUE(box) << err;
  box->set_min_weight();
  box->set_cpu_quota(2);
  box->set_memory_limit(1 << 20);
  box->set_cpuset({0});
  EXPECT_EQ(slurp(t.tmp.path() + "/cpu/colo.slice/bigbox/cpu.shares"), "");
  EXPECT_EQ(slurp(t.tmp.path() + "/cpuset/colo.slice/bigbox/cpuset.cpus"), "0-7");
  EXPECT_GE(box->writes().size(), 4u) << "what would have been written is recorded";
}

TEST(BigBoxGuard, OwnsOnlyItsOwnDirectories) {
  HybridTree t;
  t.populate_box();
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box);
  const std::string root = t.tmp.path();
  EXPECT_TRUE(box->owns(root + "/cpu/colo.slice/bigbox/cpu.shares"));
  EXPECT_TRUE(box->owns(root + "/memory/colo.slice/bigbox/job/memory.limit_in_bytes"));
  EXPECT_FALSE(box->owns(root + "/cpu/colo.slice/bigboxer/cpu.shares"));
  EXPECT_FALSE(box->owns(root + "/cpu/colo.slice/cpu.shares"));
  EXPECT_FALSE(box->owns(root + "/cpu/colo.slice/bigbox/../other/cpu.shares"));
  EXPECT_FALSE(box->owns(root + "/cpu/colo.slice/bigbox"));
}

TEST(BigBoxV2, DrivesV2Files) {
  TempDir tmp{"colo-bigbox-v2"};
  tmp.put("cgroup.controllers", "cpuset cpu io memory pids\n");
  const std::string rel = "kubepods.slice/kubepods-besteffort.slice";
  for (const char* f : {"cpu.weight", "cpu.idle", "memory.high", "cpuset.cpus", "cgroup.procs"})
    tmp.put(rel + "/" + f, "");
  tmp.put(rel + "/cpu.max", "max 100000\n");
  tmp.put(rel + "/memory.max", "max\n");
  std::string err;
  auto layout = CgroupLayout::from_tree(tmp.path(), &err);
  ASSERT_TRUE(layout) << err;
  BigBox::Options o;
  o.rel_path = "/" + rel;
  o.create = false;
  auto box = BigBox::open(*layout, o, &err);
  ASSERT_TRUE(box) << err;
  const std::string b = tmp.path() + "/" + rel;
  EXPECT_EQ(box->dirs().size(), 1u);
  box->set_min_weight();
  EXPECT_EQ(slurp(b + "/cpu.weight"), "1");
  EXPECT_EQ(slurp(b + "/cpu.idle"), "1");
  box->set_cpu_quota(0.5);
  EXPECT_EQ(slurp(b + "/cpu.max"), "50000 100000");
  EXPECT_DOUBLE_EQ(*box->cpu_quota_cores(), 0.5);
  size_t n = box->writes().size();
  box->set_memory_limit(2000);
  // Shrinking from unlimited: memory.high before memory.max.
  EXPECT_EQ(box->writes()[n].path, b + "/memory.high");
  EXPECT_EQ(box->writes()[n + 1].path, b + "/memory.max");
  EXPECT_EQ(slurp(b + "/memory.high"), "1900");
  EXPECT_EQ(*box->memory_limit(), 2000u);
  box->set_cpuset({1});
  EXPECT_EQ(slurp(b + "/cpuset.cpus"), "1");
  box->set_cpu_quota(-1);
  EXPECT_EQ(slurp(b + "/cpu.max"), "max 100000");
  // The levels above the box and their memory-limit hits (memory.events
  // "max"); the root has no limit and is left out.
  EXPECT_TRUE(box->ancestor_limit_hits().empty());
  tmp.put("kubepods.slice/memory.events", "low 0\nhigh 0\nmax 7\noom 0\noom_kill 0\n");
  auto hits = box->ancestor_limit_hits();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits["/kubepods.slice"], 7u);
}

TEST(BigBoxV1, AncestorLimitHitsAreTheFailcntsAboveTheBox) {
  HybridTree t;
  t.populate_box();
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  t.tmp.put("memory/memory.failcnt", "99\n");                   // the root: not a level above
  t.tmp.put("memory/colo.slice/bigbox/memory.failcnt", "5\n");  // the box's own limit
  t.tmp.put("memory/colo.slice/memory.failcnt", "3\n");
  auto hits = box->ancestor_limit_hits();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits["/colo.slice"], 3u);
}

TEST(BigBoxJobs, CreateInEveryHierarchyListKillRemove) {
  HybridTree t;
  t.populate_box();
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  ASSERT_TRUE(box->create_job("ffmpeg-1", 0, &err)) << err;
  for (const char* h : {"cpu", "cpuset", "memory", "unified"})
    EXPECT_TRUE(is_dir(t.tmp.path() + "/" + h + "/colo.slice/bigbox/ffmpeg-1")) << h;
  // A v1 cpuset job starts with the box's CPUs and memory nodes (the kernel
  // makes the files; the fixture has none, so look at the writes made).
  bool cpus = false, mems = false;
  for (auto& w : box->writes()) {
    cpus |= w.path == t.tmp.path() + "/cpuset/colo.slice/bigbox/ffmpeg-1/cpuset.cpus" && w.value == "0-7";
    mems |= w.path == t.tmp.path() + "/cpuset/colo.slice/bigbox/ffmpeg-1/cpuset.mems" && w.value == "0";
  }
  EXPECT_TRUE(cpus && mems);
  EXPECT_EQ(box->jobs(), std::vector<std::string>{"ffmpeg-1"});
  EXPECT_EQ(box->job_procs_files("ffmpeg-1").size(), 4u);
  t.tmp.put("cpu/colo.slice/bigbox/cgroup.procs", "11\n");
  t.tmp.put("cpu/colo.slice/bigbox/ffmpeg-1/cgroup.procs", "12\n13\n");
  EXPECT_EQ(box->own_tasks(), std::vector<pid_t>{11});
  EXPECT_EQ(box->job_tasks("ffmpeg-1"), (std::vector<pid_t>{12, 13}));
  // cgroup.kill where the (unified) job has one; the fixture has none yet.
  EXPECT_FALSE(box->kill_job("ffmpeg-1"));
  t.tmp.put("unified/colo.slice/bigbox/ffmpeg-1/cgroup.kill", "");
  EXPECT_TRUE(box->kill_job("ffmpeg-1"));
  EXPECT_EQ(slurp(t.tmp.path() + "/unified/colo.slice/bigbox/ffmpeg-1/cgroup.kill"), "1");
}

TEST(BigBoxJobs, NamesCannotLeaveTheBox) {
  for (const char* bad : {"", ".", "..", "../x", "a/b", ".hidden", "a b", "x\n"})
    EXPECT_FALSE(BigBox::valid_job_name(bad)) << bad;
  for (const char* good : {"exec-42", "render_1.mp4", "A-b"})
    EXPECT_TRUE(BigBox::valid_job_name(good)) << good;
  HybridTree t;
  t.populate_box();
  std::string err;
  auto box = BigBox::open(t.layout(), {}, &err);
  ASSERT_TRUE(box) << err;
  EXPECT_FALSE(box->create_job("../escape", 0, &err));
  EXPECT_NE(err.find("invalid job name"), std::string::npos) << err;
  EXPECT_FALSE(is_dir(t.tmp.path() + "/cpu/colo.slice/escape"));
}

TEST(BigBoxJobs, DryRunCreatesNoJob) {
  HybridTree t;
  t.populate_box();
  std::string err;
  BigBox::Options o;
  o.dry_run = true;
  auto box = BigBox::open(t.layout(), o, &err);
  ASSERT_TRUE(box) << err;
  EXPECT_TRUE(box->create_job("j", 3, &err)) << err;
  EXPECT_FALSE(is_dir(t.tmp.path() + "/cpu/colo.slice/bigbox/j"));
}

}  // namespace
}  // namespace colo
