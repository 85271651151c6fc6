// The big box's read-back of cgroup files (cgroup.procs, cpu.cfs_quota_us and
// cpu.cfs_period_us, cpu.max, cpu.stat, cpuacct.usage, cpuset.cpus(.effective),
// memory.limit_in_bytes, memory.max, memory.usage_in_bytes, memory.current),
// on v1 and v2 fixture trees whose files hold fuzzed text. What a restarted
// agent adopts must be sane: a quota is finite and positive, pids positive.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_common.h"
#include "support/temp_dir.h"
#include "userspace/cgroup/bigbox.h"
#include "userspace/cgroup/layout.h"
#include "userspace/util/fs.h"

namespace {

using colo::test::TempDir;

struct Trees {
  TempDir v1{"colo-fuzz-v1"};
  TempDir v2{"colo-fuzz-v2"};
  std::unique_ptr<colo::BigBox> box_v1, box_v2;
  const std::string rel = "colo.slice/bigbox";
  Trees() {
    colo::set_log_level(colo::LogLevel::Error);
    v1.put("cpu/cgroup.procs", "");
    v1.put("cpuset/cgroup.procs", "");
    v1.put("cpuset/cpuset.cpus", "0-7\n");
    v1.put("cpuset/cpuset.mems", "0\n");
    v1.put("memory/cgroup.procs", "");
    for (const char* f : {"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cgroup.procs",
                          "cpuacct.usage"})
      v1.put("cpu/" + rel + "/" + f, "");
    v1.put("cpu/" + rel + "/job/cgroup.procs", "");
    v1.put("cpuset/" + rel + "/cpuset.cpus", "0-7\n");
    v1.put("cpuset/" + rel + "/cpuset.mems", "0\n");
    v1.put("memory/" + rel + "/memory.limit_in_bytes", "");
    v1.put("memory/" + rel + "/memory.usage_in_bytes", "");
    v1.put("memory/" + rel + "/cgroup.procs", "");
    v2.put("cgroup.controllers", "cpu cpuset memory\n");
    v2.put("cgroup.subtree_control", "cpu cpuset memory\n");
    v2.put("cgroup.procs", "");
    v2.put("colo.slice/cgroup.subtree_control", "cpu cpuset memory\n");
    for (const char* f : {"cpu.weight", "cpu.max", "cpu.stat", "cgroup.procs", "cpuset.cpus",
                          "cpuset.cpus.effective", "memory.max", "memory.high", "memory.current"})
      v2.put(rel + "/" + f, "");
    std::string err;
    colo::BigBox::Options o;
    o.create = false;
    o.dry_run = true;
    auto l1 = colo::CgroupLayout::from_tree(v1.path(), &err);
    auto l2 = colo::CgroupLayout::from_tree(v2.path(), &err);
    if (!l1 || !l2) std::abort();
    auto b1 = colo::BigBox::open(*l1, o, &err);
    auto b2 = colo::BigBox::open(*l2, o, &err);
    if (!b1 || !b2) {
      std::fprintf(stderr, "fuzz_cgroup_files: fixture box: %s\n", err.c_str());
      std::abort();
    }
    box_v1 = std::make_unique<colo::BigBox>(std::move(*b1));
    box_v2 = std::make_unique<colo::BigBox>(std::move(*b2));
  }
};

void read_back(const colo::BigBox& box) {
  for (pid_t p : box.tasks()) FUZZ_CHECK(p > 0);
  if (auto q = box.cpu_quota_cores()) FUZZ_CHECK(std::isfinite(*q) && *q > 0);
  if (auto c = box.cpuset()) {
    for (int cpu : *c) FUZZ_CHECK(cpu >= 0);
  }
  (void)box.memory_limit();
  (void)box.memory_usage();
  (void)box.cpu_usage_ns();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Trees t;
  FuzzedDataProvider in(data, size);
  auto put = [&](const TempDir& d, const std::string& f) {
    colo::write_file(d.path() + "/" + f, in.ConsumeRandomLengthString(256));
  };
  const std::string c1 = "cpu/" + t.rel + "/";
  for (const char* f : {"cgroup.procs", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuacct.usage",
                        "job/cgroup.procs"})
    put(t.v1, c1 + f);
  put(t.v1, "cpuset/" + t.rel + "/cpuset.cpus");
  put(t.v1, "memory/" + t.rel + "/memory.limit_in_bytes");
  put(t.v1, "memory/" + t.rel + "/memory.usage_in_bytes");
  for (const char* f : {"cgroup.procs", "cpu.max", "cpu.stat", "cpuset.cpus.effective",
                        "memory.max", "memory.current"})
    put(t.v2, t.rel + "/" + f);
  read_back(*t.box_v1);
  read_back(*t.box_v2);
  return 0;
}
