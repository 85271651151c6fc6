// Privileged tests of the big box on real cgroups (v1 here): colo exec puts a
// job in the box; the knobs land in the kernel. Boxes live under the test's
// own uniquely named cgroups (memory nested under the test's memory cgroup).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/privileged.h"
#include "userspace/cgroup/bigbox.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

std::string box_config(const TestCgroups& cg) {
  std::ostringstream c;
  c << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n"
    << "  bigbox_paths:\n    memory: " << cg.mem_rel("box") << "\n";
  return c.str();
}

// box_config() in a file for `colo exec --config`, removed with it (also
// when an assertion ends the test early).
struct BoxConfigFile {
  explicit BoxConfigFile(const TestCgroups& cg) : path("/tmp/" + unique_name("exec") + ".yaml") {
    std::ofstream(path) << box_config(cg);
  }
  ~BoxConfigFile() { unlink(path.c_str()); }
  BoxConfigFile(const BoxConfigFile&) = delete;
  BoxConfigFile& operator=(const BoxConfigFile&) = delete;
  std::string path;
};

TEST(BigBoxReal, ExecRunsTheJobInTheBox) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");  // tracked, so removed after the test
  const BoxConfigFile cfg(cg);
  const std::string& cfg_path = cfg.path;
  std::string out;
  int rc = run_cmd({COLO_BINARY, "exec", "--config", cfg_path, "--", "sh", "-c",
                    "cat /proc/self/cgroup /proc/self/oom_score_adj; exit 7"},
                   &out);
  EXPECT_EQ(rc, 7) << "the job's exit code is colo exec's: " << out;
  // In its own job cgroup below the box (exec-<pid of colo exec>).
  EXPECT_NE(out.find(":cpu:" + cg.cpu_rel("box") + "/exec-"), std::string::npos) << out;
  EXPECT_NE(out.find(":memory:" + cg.mem_rel("box") + "/exec-"), std::string::npos) << out;
  EXPECT_NE(out.find("\n1000\n"), std::string::npos) << "BE jobs are OOM-killed first: " << out;
  // No agent ever limited this box: the job did not run unlimited at the
  // default weight, the box got the safe state first, and said so.
  auto knob = [&](const char* f) {
    return std::string(trim(read_file(cg.cpu_dir("box") + "/" + f).value_or("?")));
  };
  EXPECT_EQ(knob("cpu.cfs_quota_us"), "1000");
  if (path_exists(cg.cpu_dir("box") + "/cpu.idle"))
    EXPECT_EQ(knob("cpu.idle"), "1");  // (cpu.shares then reads as SCHED_IDLE's weight, 3)
  else
    EXPECT_EQ(knob("cpu.shares"), "2");
  EXPECT_NE(out.find("had no CPU limit"), std::string::npos) << out;
  // A box with a limit keeps it.
  ASSERT_EQ(write_file(cg.cpu_dir("box") + "/cpu.cfs_quota_us", "50000"), 0);
  rc = run_cmd({COLO_BINARY, "exec", "--config", cfg_path, "--", "true"}, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(knob("cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(out.find("had no CPU limit"), std::string::npos) << out;
  // A command that cannot run: a clear message, exit 127.
  rc = run_cmd({COLO_BINARY, "exec", "--config", cfg_path, "--", "/nonexistent/cmd"}, &out);
  EXPECT_EQ(rc, 127);
  EXPECT_NE(out.find("cannot run /nonexistent/cmd"), std::string::npos) << out;
}

TEST(BigBoxReal, ExecRemovesTheCgroupsAJobMadeBelowItsOwn) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  const BoxConfigFile cfg(cg);
  const std::string& cfg_path = cfg.path;
  const std::string box = cg.cpu_dir("box");
  // The job makes two levels below its own cpu cgroup (as a job that runs
  // its workers in cgroups of their own), leaves them empty, and exits.
  std::string out;
  int rc = run_cmd({COLO_BINARY, "exec", "--config", cfg_path, "--", "sh", "-c",
                    "j=$(grep -o 'exec-[0-9]*' /proc/self/cgroup | head -1) && mkdir " + box +
                        "/$j/worker " + box + "/$j/worker/inner && ls -d " + box +
                        "/$j/worker/inner"},
                   &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("/worker/inner"), std::string::npos) << out;
  std::vector<std::string> left;
  for (auto& e : std::filesystem::directory_iterator(box))
    if (e.is_directory()) left.push_back(e.path().filename());
  EXPECT_TRUE(left.empty()) << "left in the box: " << (left.empty() ? "" : left[0]) << "; " << out;
}

TEST(BigBoxReal, KnobsReachTheKernel) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  std::string err;
  auto layout = CgroupLayout::discover("/sys/fs/cgroup", &err);
  ASSERT_TRUE(layout) << err;
  BigBox::Options o;
  o.rel_path = cg.cpu_rel("box");
  o.rel_path_for = {{"memory", cg.mem_rel("box")}};
  auto box = BigBox::open(*layout, o, &err);
  ASSERT_TRUE(box) << err;
  EXPECT_EQ(box->set_min_weight(), 0);
  if (path_exists(cg.cpu_dir("box") + "/cpu.idle")) {
    // SCHED_IDLE for the box; the kernel then reports the idle weight (3).
    EXPECT_EQ(read_line(cg.cpu_dir("box") + "/cpu.idle"), "1");
    EXPECT_EQ(read_line(cg.cpu_dir("box") + "/cpu.shares"), "3");
  } else {
    EXPECT_EQ(read_line(cg.cpu_dir("box") + "/cpu.shares"), "2");
  }
  EXPECT_EQ(box->set_cpu_quota(0.5), 0);
  EXPECT_DOUBLE_EQ(box->cpu_quota_cores().value_or(-1), 0.5);
  EXPECT_EQ(box->set_memory_limit(64 << 20), 0);
  EXPECT_EQ(box->memory_limit().value_or(0), 64u << 20);
  if (!cg.cpuset_dir("box").empty()) {
    EXPECT_EQ(box->set_cpuset({1}), 0);
    EXPECT_EQ(box->cpuset().value_or(std::vector<int>{}), std::vector<int>{1});
    EXPECT_EQ(box->set_cpuset({0, 1}), 0);
  }
  // A task joins, and is made the OOM killer's first choice.
  auto c = Child::spawn({"sleep", "30"}, box->procs_files());
  ASSERT_TRUE(c);
  EXPECT_EQ(box->tasks(), std::vector<pid_t>{c->pid()});
  EXPECT_EQ(box->set_oom_first(), 1);
  EXPECT_EQ(read_line("/proc/" + std::to_string(c->pid()) + "/oom_score_adj"), "1000");
  EXPECT_EQ(box->set_cpu_quota(-1), 0);
  EXPECT_EQ(box->set_memory_limit(0), 0);
}

}  // namespace
}  // namespace colo::test
