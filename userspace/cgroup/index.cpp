#include "userspace/cgroup/index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace colo {
namespace {

struct Walker {
  dev_t dev;
  int max_depth;
  std::unordered_map<uint64_t, std::string>* by_id;
  std::unordered_map<std::string, uint64_t>* by_path;

  // `dirfd` is owned here. Errors (mostly ENOENT: cgroups come and go) end
  // that branch of the walk only.
  void walk(int dirfd, const std::string& rel, int depth) {
    DIR* dir = fdopendir(dirfd);
    if (!dir) {
      close(dirfd);
      return;
    }
    while (struct dirent* de = readdir(dir)) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
      struct stat st;
      if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
        continue;
      // Another mount below the root is not part of this hierarchy.
      if (st.st_dev != dev) continue;
      std::string child = rel == "/" ? "/" + std::string(de->d_name) : rel + "/" + de->d_name;
      (*by_id)[st.st_ino] = child;
      (*by_path)[child] = st.st_ino;
      if (depth + 1 >= max_depth) continue;
      int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) walk(fd, child, depth + 1);
    }
    closedir(dir);
  }
};

}  // namespace

std::optional<uint64_t> cgroup_id_of_dir(const std::string& abs_path) {
  struct stat st;
  if (stat(abs_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return static_cast<uint64_t>(st.st_ino);
}

CgroupIndex::CgroupIndex(std::string hierarchy_root, int max_depth)
    : root_(std::move(hierarchy_root)), max_depth_(max_depth) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

size_t CgroupIndex::rescan() {
  by_id_.clear();
  by_path_.clear();
  int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return 0;
  }
  by_id_[st.st_ino] = "/";
  by_path_["/"] = st.st_ino;
  if (max_depth_ > 0) {
    Walker{st.st_dev, max_depth_, &by_id_, &by_path_}.walk(fd, "/", 0);
  } else {
    close(fd);
  }
  return by_id_.size();
}

std::optional<std::string> CgroupIndex::path_of(uint64_t id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> CgroupIndex::id_of(const std::string& rel_path) const {
  auto it = by_path_.find(rel_path);
  if (it == by_path_.end()) return std::nullopt;
  return it->second;
}

void CgroupIndex::add(uint64_t id, const std::string& rel_path) {
  // A recycled id or a re-created path replaces the stale entry on either side.
  if (auto it = by_id_.find(id); it != by_id_.end()) by_path_.erase(it->second);
  if (auto it = by_path_.find(rel_path); it != by_path_.end()) by_id_.erase(it->second);
  by_id_[id] = rel_path;
  by_path_[rel_path] = id;
}

void CgroupIndex::remove(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_path_.erase(it->second);
  by_id_.erase(it);
}

bool path_is_within(const std::string& rel_path, const std::string& prefix) {
  std::string_view p = prefix;
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  if (p == "/") return !rel_path.empty() && rel_path[0] == '/';
  return rel_path.compare(0, p.size(), p) == 0 &&
         (rel_path.size() == p.size() || rel_path[p.size()] == '/');
}

}  // namespace colo
