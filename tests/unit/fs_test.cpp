#include "userspace/util/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/privileged.h"
#include "support/temp_dir.h"

namespace colo {
namespace {

class FsTest : public ::testing::Test {
 protected:
  std::string put(const std::string& name, const std::string& content) {
    return tmp_.put(name, content);
  }
  test::TempDir tmp_{"colo-fs-test"};
  const std::string dir_ = tmp_.path();
};

TEST_F(FsTest, ReadFileReadsEverything) {
  std::string big;
  for (int i = 0; i < 3000; i++) big += std::to_string(i) + "\n";  // > 4096 bytes
  EXPECT_EQ(read_file(put("big", big)), big);
  EXPECT_EQ(read_file(put("empty", "")), "");
}

TEST_F(FsTest, ReadFileIgnoresReportedSize) {
  // procfs reports st_size 0, sysfs 4096; the content is neither.
  auto status = read_file("/proc/self/status");
  ASSERT_TRUE(status);
  EXPECT_NE(status->find("Pid:"), std::string::npos);
  if (path_exists("/sys/devices/system/cpu/online")) {
    auto online = read_file("/sys/devices/system/cpu/online");
    ASSERT_TRUE(online);
    EXPECT_LT(online->size(), 100u);
    EXPECT_EQ(online->back(), '\n');
  }
}

TEST_F(FsTest, ReadFileReportsErrno) {
  int err = 0;
  EXPECT_FALSE(read_file(dir_ + "/missing", &err));
  EXPECT_EQ(err, ENOENT);
  EXPECT_FALSE(read_file(dir_, &err));
  EXPECT_EQ(err, EISDIR);
  EXPECT_FALSE(read_line(dir_ + "/missing", &err));
  EXPECT_EQ(err, ENOENT);
}

TEST_F(FsTest, KeptFileReadsTheFileAnewEachTime) {
  const std::string path = put("memory.current", "4096\n");
  KeptFile f(path);
  EXPECT_EQ(f.read(), "4096\n");
  // Rewritten in place (as the kernel's files change): the next read sees it.
  ASSERT_EQ(write_file(path, "123456789\n"), 0);
  EXPECT_EQ(f.read(), "123456789\n");
  ASSERT_EQ(write_file(path, "7\n"), 0);
  EXPECT_EQ(f.read(), "7\n") << "shorter than before: nothing of the old text left";
  EXPECT_EQ(f.read_int(), 7);
  ASSERT_EQ(write_file(path, "7x\n"), 0);
  int err = 0;
  EXPECT_FALSE(f.read_int(&err));
  EXPECT_EQ(err, EINVAL);
  // procfs makes the text at each read from offset 0.
  KeptFile meminfo("/proc/meminfo");
  for (int i = 0; i < 3; i++) {
    auto text = meminfo.read();
    ASSERT_TRUE(text);
    EXPECT_EQ(text->rfind("MemTotal:", 0), 0u) << *text;
  }
}

TEST_F(FsTest, KeptFileReportsErrnoAndOpensAgainWhenItComesBack) {
  const std::string path = dir_ + "/cpu.stat";
  KeptFile f(path);
  int err = 0;
  EXPECT_FALSE(f.read(&err));
  EXPECT_EQ(err, ENOENT);
  put("cpu.stat", "nr_periods 3\n");
  EXPECT_EQ(f.read(&err), "nr_periods 3\n");
  EXPECT_EQ(err, 0);
  KeptFile dir(dir_);
  EXPECT_FALSE(dir.read(&err));
  EXPECT_EQ(err, EISDIR);
}

// A real cgroup removed and made again: its old file answers ENODEV, and the
// next read opens the new one.
TEST(KeptFileCgroup, ReadsTheCgroupMadeAgainAfterItsRemoval) {
  COLO_REQUIRE_ROOT();
  test::TestCgroups cg;
  cg.create("k");
  const std::string dir = cg.cpu_dir("k");
  ASSERT_EQ(write_file(dir + "/cpu.shares", "1234"), 0);
  KeptFile f(dir + "/cpu.shares");
  EXPECT_EQ(f.read(), "1234\n");
  ASSERT_EQ(rmdir(dir.c_str()), 0) << strerror(errno);
  int err = 0;
  EXPECT_FALSE(f.read(&err));
  EXPECT_EQ(err, ENOENT) << "the old file fails (ENODEV), the path is gone";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << strerror(errno);  // the fixture removes it
  EXPECT_EQ(f.read(&err), "1024\n") << "the new cgroup's own value";
  EXPECT_EQ(err, 0);
}

TEST_F(FsTest, WriteFileNeverCreates) {
  std::string path = dir_ + "/cpu.max";
  EXPECT_EQ(write_file(path, "max 100000"), -ENOENT);
  EXPECT_FALSE(path_exists(path));
}

TEST_F(FsTest, WriteFileReplacesTheContent) {
  // Like a shell redirection: a plain file (fixture trees) holds just the value.
  std::string path = put("cpu.cfs_quota_us", "-100000");
  EXPECT_EQ(write_file(path, "5000"), 0);
  EXPECT_EQ(read_file(path), "5000");
}

TEST_F(FsTest, WriteFileReturnsNegativeErrno) {
  EXPECT_EQ(write_file(dir_, "x"), -EISDIR);
  if (path_exists("/dev/full")) {
    EXPECT_EQ(write_file("/dev/full", "x"), -ENOSPC);
  }
}

TEST_F(FsTest, ReadLineTakesTrimmedFirstLine) {
  EXPECT_EQ(read_line(put("a", "  42 \t\nsecond\n")), "42");
  EXPECT_EQ(read_line(put("b", "no newline")), "no newline");
  EXPECT_EQ(read_line(put("c", "")), "");
  EXPECT_EQ(read_line(put("d", "\nsecond")), "");
}

TEST_F(FsTest, ReadIntParsesWholeLine) {
  EXPECT_EQ(read_int(put("a", "123\n")), 123);
  EXPECT_EQ(read_int(put("b", "-5")), -5);
  EXPECT_EQ(read_int(put("c", " 9223372036854775807 \n")), INT64_MAX);
  int err = 0;
  for (const char* bad : {"max\n", "12 34", "", "1.5", "+3", "0x10"}) {
    err = 0;
    EXPECT_FALSE(read_int(put("bad", bad), &err)) << bad;
    EXPECT_EQ(err, EINVAL) << bad;
  }
  EXPECT_FALSE(read_int(put("big", "9223372036854775808"), &err));
  EXPECT_EQ(err, ERANGE);
}

TEST_F(FsTest, ExistsAndIsDir) {
  std::string file = put("f", "x");
  std::string link = dir_ + "/l";
  ASSERT_EQ(symlink(dir_.c_str(), link.c_str()), 0);
  EXPECT_TRUE(path_exists(file));
  EXPECT_TRUE(path_exists(dir_));
  EXPECT_FALSE(path_exists(dir_ + "/missing"));
  EXPECT_FALSE(is_dir(file));
  EXPECT_TRUE(is_dir(dir_));
  EXPECT_TRUE(is_dir(link));
  EXPECT_FALSE(is_dir(dir_ + "/missing"));
}

TEST(FsPath, JoinPath) {
  const std::tuple<const char*, const char*, const char*> cases[] = {
      {"/sys/fs/cgroup", "cpu", "/sys/fs/cgroup/cpu"},
      {"/sys/fs/cgroup/", "cpu", "/sys/fs/cgroup/cpu"},
      {"/sys/fs/cgroup", "/a/b", "/sys/fs/cgroup/a/b"},
      {"/sys/fs/cgroup//", "//a", "/sys/fs/cgroup/a"},
      {"/", "a", "/a"},
      {"/", "/", "/"},
      {"a", "b", "a/b"},
      {"", "b", "b"},
      {"a", "", "a"},
  };
  for (auto [a, b, want] : cases) EXPECT_EQ(join_path(a, b), want) << a << " + " << b;
}

TEST(FsPath, Trim) {
  EXPECT_EQ(trim("  a b \n"), "a b");
  EXPECT_EQ(trim("\t\r\n"), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("x"), "x");
}

TEST(FsPath, SplitKeepsEmptyFields) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split("a,b,c", ','), (V{"a", "b", "c"}));
  EXPECT_EQ(split("a,,b,", ','), (V{"a", "", "b", ""}));
  EXPECT_EQ(split("", ','), (V{""}));
  EXPECT_EQ(split(",", ','), (V{"", ""}));
  EXPECT_EQ(split("abc", ','), (V{"abc"}));
}

}  // namespace
}  // namespace colo
