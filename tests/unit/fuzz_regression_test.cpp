// Inputs the fuzzers (tests/fuzz) found that broke a parser's promise, fixed
// and kept here so the normal build checks them too; and every committed seed
// of tests/fuzz/corpus replayed through its parser (no crash, no exception).
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/config.h"
#include "support/temp_dir.h"
#include "userspace/cgroup/bigbox.h"
#include "userspace/cgroup/layout.h"
#include "userspace/util/fs.h"
#include "userspace/util/parse.h"

namespace colo {
namespace {

using test::TempDir;

// fuzz_duration: "21880010h" wrapped around 2^64 to a small, accepted value.
TEST(FuzzRegression, DurationThatWouldWrapIsRejected) {
  EXPECT_FALSE(parse_duration_ns("21880010h"));
  EXPECT_FALSE(parse_duration_ns("999999999999h"));
  EXPECT_FALSE(parse_duration_ns("5124096h"));
  EXPECT_EQ(parse_duration_ns("5124095h"), 5124095ull * 3600'000'000'000ull);
  EXPECT_EQ(parse_duration_ns("999999999999ns"), 999999999999ull);
}

// fuzz_cgroup_files: cpu.max "abc 100000" read back as 0 cores (and "x y" as
// NaN), which a restarted agent would have adopted as the box's quota.
TEST(FuzzRegression, JunkQuotaIsNotAdopted) {
  TempDir tmp{"colo-fuzzreg-v2"};
  tmp.put("cgroup.controllers", "cpuset cpu memory\n");
  const std::string rel = "box";
  for (const char* f : {"cpu.weight", "cpuset.cpus", "cgroup.procs", "memory.max"})
    tmp.put(rel + "/" + f, "");
  std::string cpu_max = tmp.put(rel + "/cpu.max", "max 100000\n");
  std::string err;
  auto layout = CgroupLayout::from_tree(tmp.path(), &err);
  ASSERT_TRUE(layout) << err;
  BigBox::Options o;
  o.rel_path = "/box";
  o.create = false;
  auto box = BigBox::open(*layout, o, &err);
  ASSERT_TRUE(box) << err;
  for (const char* junk : {"abc 100000", "x y", "0 100000", "50000 0", "-5 100000", "5e4 100000",
                           "50000 100000 7", "50000"}) {
    ASSERT_EQ(write_file(cpu_max, junk), 0);
    EXPECT_FALSE(box->cpu_quota_cores()) << junk;
  }
  ASSERT_EQ(write_file(cpu_max, "50000 100000\n"), 0);
  EXPECT_DOUBLE_EQ(box->cpu_quota_cores().value_or(-1), 0.5);
}

TEST(FuzzRegression, V1ZeroQuotaIsNotAdopted) {
  TempDir tmp{"colo-fuzzreg-v1"};
  tmp.put("cpu/cgroup.procs", "");
  tmp.put("cpuset/cpuset.cpus", "0-1\n");
  tmp.put("cpuset/cpuset.mems", "0\n");
  tmp.put("memory/cgroup.procs", "");
  for (const char* f : {"cpu.shares", "cgroup.procs"}) tmp.put("cpu/box/" + std::string(f), "");
  std::string quota = tmp.put("cpu/box/cpu.cfs_quota_us", "0\n");
  tmp.put("cpu/box/cpu.cfs_period_us", "100000\n");
  tmp.put("cpuset/box/cpuset.cpus", "0-1\n");
  tmp.put("cpuset/box/cpuset.mems", "0\n");
  tmp.put("memory/box/memory.limit_in_bytes", "9223372036854771712\n");
  std::string err;
  auto layout = CgroupLayout::from_tree(tmp.path(), &err);
  ASSERT_TRUE(layout) << err;
  BigBox::Options o;
  o.rel_path = "/box";
  o.create = false;
  auto box = BigBox::open(*layout, o, &err);
  ASSERT_TRUE(box) << err;
  EXPECT_FALSE(box->cpu_quota_cores());
  ASSERT_EQ(write_file(quota, "25000\n"), 0);
  EXPECT_DOUBLE_EQ(box->cpu_quota_cores().value_or(-1), 0.25);
}

// Every seed of the text parsers' corpora, through the parser (the fuzz build
// runs them with sanitizers; this keeps them exercised in every build).
TEST(FuzzRegression, SeedCorporaParse) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(COLO_SOURCE_DIR) / "tests/fuzz/corpus";
  size_t n = 0;
  for (const char* target : {"config", "duration", "cpu_list", "psi", "flat_keyed", "proc_cgroup",
                             "layout"}) {
    ASSERT_TRUE(fs::is_directory(root / target)) << target;
    for (auto& e : fs::directory_iterator(root / target)) {
      auto text = read_file(e.path().string());
      ASSERT_TRUE(text) << e.path();
      std::string t = *text;
      std::string_view name = target;
      if (name == "config") {
        std::vector<ConfigError> errs;
        parse_config(t, &errs);
      } else if (name == "duration") {
        parse_duration_ns(t);
      } else if (name == "cpu_list") {
        if (auto c = parse_cpu_list(t)) {
          EXPECT_EQ(parse_cpu_list(format_cpu_list(*c)), c);
        }
      } else if (name == "psi") {
        parse_psi(t);
      } else if (name == "flat_keyed") {
        parse_flat_keyed(t);
      } else if (name == "proc_cgroup") {
        parse_proc_cgroup(t);
      } else {
        size_t nul = t.find('\0');
        std::string e2;
        CgroupLayout::from_texts("/sys/fs/cgroup", t.substr(0, nul),
                                 nul == std::string::npos ? "" : t.substr(nul + 1), &e2);
      }
      n++;
    }
  }
  EXPECT_GT(n, 20u);
}

}  // namespace
}  // namespace colo
