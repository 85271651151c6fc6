// Small, error-returning file helpers for cgroupfs/sysfs/procfs.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace colo {

// Whole file; nullopt and *err = errno on failure.
std::optional<std::string> read_file(const std::string& path, int* err = nullptr);
// Writes `data` in one write(2) (cgroup files need that), truncating like a
// shell redirection (so plain files in fixture trees hold just `data`); never
// creates the file. 0 or -errno.
int write_file(const std::string& path, std::string_view data);
// First line, whitespace trimmed.
std::optional<std::string> read_line(const std::string& path, int* err = nullptr);
std::optional<int64_t> read_int(const std::string& path, int* err = nullptr);
bool path_exists(const std::string& path);

// A file read again and again, kept open between reads: procfs, sysfs and
// cgroupfs make a file's text anew at each read from offset 0, so a poll
// needs no path walk and no open. A read that fails (the cgroup was removed
// and its files with it: ENODEV) opens the path once more, so a file that
// comes back is read again. Not for regular files that are replaced by
// rename (the old inode would be read).
class KeptFile {
 public:
  explicit KeptFile(std::string path) : path_(std::move(path)) {}
  ~KeptFile();
  KeptFile(const KeptFile&) = delete;
  KeptFile& operator=(const KeptFile&) = delete;
  const std::string& path() const { return path_; }
  // Whole file; nullopt and *err = errno on failure.
  std::optional<std::string> read(int* err = nullptr);
  // Its first line as an integer, as read_int().
  std::optional<int64_t> read_int(int* err = nullptr);

 private:
  std::string path_;
  int fd_ = -1;
};

bool is_dir(const std::string& path);
std::string join_path(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);  // empty fields kept

}  // namespace colo
