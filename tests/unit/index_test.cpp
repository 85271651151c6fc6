#include "userspace/cgroup/index.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

#include "userspace/util/fs.h"

namespace colo {
namespace {

uint64_t inode_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// root/{a/{b/{deep/}}, c/}, plus a file and a symlink that are no cgroups.
class CgroupIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"/a", "/a/b", "/a/b/deep", "/c"})
      ASSERT_EQ(mkdir((root_ + d).c_str(), 0755), 0) << d;
    std::ofstream(root_ + "/cgroup.procs");
    std::ofstream(root_ + "/a/cpu.weight") << "100\n";
    ASSERT_EQ(symlink((root_ + "/a").c_str(), (root_ + "/link").c_str()), 0);
  }
  test::TempDir tmp_{"colo-index-test"};
  const std::string root_ = tmp_.path();
};

TEST_F(CgroupIndexTest, IdsAreDirectoryInodes) {
  CgroupIndex index(root_);
  EXPECT_EQ(index.rescan(), 5u);
  EXPECT_EQ(index.size(), 5u);
  EXPECT_EQ(index.root(), root_);
  for (const char* rel : {"/a", "/a/b", "/a/b/deep", "/c"}) {
    uint64_t ino = inode_of(root_ + rel);
    EXPECT_EQ(index.id_of(rel), ino) << rel;
    EXPECT_EQ(index.path_of(ino), rel) << rel;
    EXPECT_EQ(cgroup_id_of_dir(root_ + rel), ino) << rel;
  }
  EXPECT_EQ(index.id_of("/"), inode_of(root_));
  EXPECT_EQ(index.path_of(inode_of(root_)), "/");
  EXPECT_FALSE(index.id_of("/link"));
  EXPECT_FALSE(index.id_of("/cgroup.procs"));
  EXPECT_FALSE(index.id_of("/a/"));
  EXPECT_FALSE(index.path_of(inode_of(root_ + "/cgroup.procs")));
}

TEST_F(CgroupIndexTest, IdOfDirRejectsNonDirectories) {
  EXPECT_FALSE(cgroup_id_of_dir(root_ + "/cgroup.procs"));
  EXPECT_FALSE(cgroup_id_of_dir(root_ + "/missing"));
  EXPECT_EQ(cgroup_id_of_dir(root_ + "/"), inode_of(root_));
}

TEST_F(CgroupIndexTest, RescanForgetsRemovedCgroups) {
  CgroupIndex index(root_ + "/");
  ASSERT_EQ(index.rescan(), 5u);
  uint64_t deep = *index.id_of("/a/b/deep");
  uint64_t b = *index.id_of("/a/b");
  ASSERT_EQ(rmdir((root_ + "/a/b/deep").c_str()), 0);
  ASSERT_EQ(rmdir((root_ + "/a/b").c_str()), 0);
  ASSERT_EQ(mkdir((root_ + "/c/new").c_str(), 0755), 0);
  EXPECT_EQ(index.rescan(), 4u);
  EXPECT_FALSE(index.id_of("/a/b"));
  EXPECT_FALSE(index.id_of("/a/b/deep"));
  EXPECT_FALSE(index.path_of(b) && *index.path_of(b) == "/a/b");
  EXPECT_FALSE(index.path_of(deep) && *index.path_of(deep) == "/a/b/deep");
  EXPECT_EQ(index.id_of("/c/new"), inode_of(root_ + "/c/new"));
}

TEST_F(CgroupIndexTest, MaxDepthLimitsTheWalk) {
  CgroupIndex root_only(root_, 0);
  EXPECT_EQ(root_only.rescan(), 1u);
  CgroupIndex one(root_, 1);
  EXPECT_EQ(one.rescan(), 3u);  // /, /a, /c
  EXPECT_FALSE(one.id_of("/a/b"));
  CgroupIndex two(root_, 2);
  EXPECT_EQ(two.rescan(), 4u);
  EXPECT_TRUE(two.id_of("/a/b"));
  EXPECT_FALSE(two.id_of("/a/b/deep"));
}

TEST_F(CgroupIndexTest, MissingRootIsEmpty) {
  CgroupIndex index(root_ + "/missing");
  EXPECT_EQ(index.rescan(), 0u);
  EXPECT_EQ(index.size(), 0u);
  CgroupIndex file(root_ + "/cgroup.procs");
  EXPECT_EQ(file.rescan(), 0u);
}

TEST_F(CgroupIndexTest, VanishedRootEmptiesTheIndex) {
  CgroupIndex index(root_ + "/c");
  ASSERT_EQ(index.rescan(), 1u);
  ASSERT_EQ(rmdir((root_ + "/c").c_str()), 0);
  EXPECT_EQ(index.rescan(), 0u);
  EXPECT_FALSE(index.id_of("/"));
}

TEST(CgroupIndex, AddAndRemoveKeepBothDirectionsConsistent) {
  CgroupIndex index("/nowhere");
  index.add(10, "/x");
  index.add(11, "/y");
  EXPECT_EQ(index.path_of(10), "/x");
  EXPECT_EQ(index.id_of("/y"), 11u);
  // The cgroup at /x was re-created: new id, same path.
  index.add(12, "/x");
  EXPECT_FALSE(index.path_of(10));
  EXPECT_EQ(index.id_of("/x"), 12u);
  // An id seen again under another path (renamed, or a recycled inode).
  index.add(11, "/z");
  EXPECT_FALSE(index.id_of("/y"));
  EXPECT_EQ(index.path_of(11), "/z");
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.entries().size(), 2u);
  index.remove(12);
  index.remove(999);
  EXPECT_FALSE(index.id_of("/x"));
  EXPECT_FALSE(index.path_of(12));
  EXPECT_EQ(index.size(), 1u);
}

TEST(CgroupIndex, PathIsWithin) {
  const std::tuple<const char*, const char*, bool> cases[] = {
      {"/a/b", "/a", true},  {"/a", "/a", true},   {"/ab", "/a", false},
      {"/a", "/", true},     {"/", "/", true},     {"/a/b", "/a/", true},
      {"/", "/a", false},    {"/a", "/a/b", false}, {"/b/a", "/a", false},
      {"", "/", false},
  };
  for (auto [path, prefix, want] : cases)
    EXPECT_EQ(path_is_within(path, prefix), want) << path << " within " << prefix;
}

// The live hierarchy: ids are the inodes the kernel reports as cgroup ids, and
// other mounts below a root (the v1 hierarchies under the /sys/fs/cgroup tmpfs)
// are not walked into.
TEST(CgroupIndex, LiveHierarchy) {
  const std::string mem = "/sys/fs/cgroup/memory";
  if (!is_dir(mem)) GTEST_SKIP() << "no v1 memory hierarchy";
  CgroupIndex index(mem);
  EXPECT_GE(index.rescan(), 1u);
  EXPECT_EQ(index.id_of("/"), inode_of(mem));
  for (const auto& [id, rel] : index.entries()) {
    if (rel == "/") continue;
    auto ino = cgroup_id_of_dir(mem + rel);
    if (ino) {  // else it vanished meanwhile
      EXPECT_EQ(*ino, id) << rel;
    }
  }
  CgroupIndex top("/sys/fs/cgroup");
  top.rescan();
  EXPECT_FALSE(top.id_of("/memory"));
}

}  // namespace
}  // namespace colo
