// Shared pieces of the BPF_PROG_TEST_RUN tests: a private pin directory per
// test (the objects pin their maps by name, and tests must never touch
// /sys/fs/bpf/colo), and RAII for skeletons.
#pragma once
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace colo::bpftest {

// Skips the calling test (from a test body or SetUp) unless we may load BPF.
#define COLO_REQUIRE_ROOT()                                              \
  do {                                                                   \
    if (geteuid() != 0) GTEST_SKIP() << "BPF tests need root";           \
  } while (0)

inline bool is_bpffs(const char* path) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<long>(st.f_type) == BPF_FS_MAGIC;
}

// A unique directory under /sys/fs/bpf, used as pin_root_path. The
// destructor removes whatever got pinned in it, then the directory.
class PinDir {
 public:
  PinDir() = default;
  ~PinDir() { remove(); }
  PinDir(const PinDir&) = delete;
  PinDir& operator=(const PinDir&) = delete;

  // Mounts bpffs at /sys/fs/bpf if needed and makes the directory; false
  // with error() set when that is not possible.
  bool create() {
    if (!is_bpffs("/sys/fs/bpf")) {
      mkdir("/sys/fs/bpf", 0700);
      if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
        error_ = std::string("mount bpffs at /sys/fs/bpf: ") + strerror(errno);
        return false;
      }
    }
    char tmpl[] = "/sys/fs/bpf/colo-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
      error_ = std::string("mkdtemp under /sys/fs/bpf: ") + strerror(errno);
      return false;
    }
    path_ = tmpl;
    return true;
  }

  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

  // Names of the objects pinned here now.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(path_.c_str())) {
      while (dirent* e = readdir(d))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
      closedir(d);
    }
    return out;
  }

  bpf_object_open_opts open_opts() const {
    bpf_object_open_opts o{};
    o.sz = sizeof(o);
    o.pin_root_path = path_.c_str();
    return o;
  }

  void remove() {
    if (path_.empty()) return;
    for (const auto& e : entries()) unlink((path_ + "/" + e).c_str());
    rmdir(path_.c_str());
    path_.clear();
  }

 private:
  std::string path_;
  std::string error_;
};

// unique_ptr for a skeleton with its generated destroy function.
template <typename Skel, void (*Destroy)(Skel*)>
struct SkelDeleter {
  void operator()(Skel* s) const {
    if (s) Destroy(s);
  }
};
template <typename Skel, void (*Destroy)(Skel*)>
using SkelPtr = std::unique_ptr<Skel, SkelDeleter<Skel, Destroy>>;

// Autoload off for every program of `obj` except those named in `keep`.
inline void autoload_only(bpf_object* obj, const std::vector<std::string>& keep) {
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    bool want = false;
    for (const auto& k : keep) want |= k == bpf_program__name(p);
    bpf_program__set_autoload(p, want);
  }
}

}  // namespace colo::bpftest
