// cgroup id <-> path of one hierarchy. The id is the kernfs id, which is the
// inode number of the cgroup's directory: what the kernel reports as the
// cgroup id (kn->id) and what bpf_skb_cgroup_id() returns on v2.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace colo {

// The id of the cgroup directory at `abs_path` (its inode), or nullopt.
std::optional<uint64_t> cgroup_id_of_dir(const std::string& abs_path);

class CgroupIndex {
 public:
  explicit CgroupIndex(std::string hierarchy_root, int max_depth = 16);
  // Walks the hierarchy again (directories only, no symlinks, at most max_depth
  // below the root, skipping directories that vanish mid-walk). Returns the
  // number of cgroups found, the root included.
  size_t rescan();
  // Path relative to the hierarchy root, "/" for the root, "/a/b" below it.
  std::optional<std::string> path_of(uint64_t id) const;
  std::optional<uint64_t> id_of(const std::string& rel_path) const;
  // Learn or forget one entry without a full walk.
  void add(uint64_t id, const std::string& rel_path);
  void remove(uint64_t id);
  size_t size() const { return by_id_.size(); }
  const std::string& root() const { return root_; }
  const std::unordered_map<uint64_t, std::string>& entries() const { return by_id_; }

 private:
  std::string root_;
  int max_depth_;
  std::unordered_map<uint64_t, std::string> by_id_;
  std::unordered_map<std::string, uint64_t> by_path_;
};

// Is `rel_path` equal to `prefix` or below it ("/a/b" is below "/a", "/ab" is not)?
bool path_is_within(const std::string& rel_path, const std::string& prefix);

}  // namespace colo
