#include "userspace/util/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace colo {
namespace {

void set_err(int* err, int value) {
  if (err) *err = value;
}

// All of `fd` from where it is (`positional`: from offset 0, by pread, which
// makes procfs and cgroupfs build their text anew), to EOF: sysfs and cgroupfs
// report st_size 4096 (or 0) whatever the content.
std::optional<std::string> read_to_end(int fd, bool positional, int* err) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = positional ? pread(fd, buf, sizeof(buf), static_cast<off_t>(out.size()))
                           : read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      set_err(err, errno);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  set_err(err, 0);
  return out;
}

// The first line of `text`, whitespace trimmed.
std::string_view first_line(std::string_view text) { return trim(text.substr(0, text.find('\n'))); }

// The first line of `text`, trimmed, as a whole integer.
std::optional<int64_t> int_of_first_line(std::string_view text, int* err) {
  const std::string_view line = first_line(text);
  int64_t value = 0;
  const char* end = line.data() + line.size();
  auto [ptr, ec] = std::from_chars(line.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    set_err(err, ec == std::errc::result_out_of_range ? ERANGE : EINVAL);
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::optional<std::string> read_file(const std::string& path, int* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_err(err, errno);
    return std::nullopt;
  }
  auto out = read_to_end(fd, false, err);
  close(fd);
  return out;
}

KeptFile::~KeptFile() {
  if (fd_ >= 0) close(fd_);
}

std::optional<std::string> KeptFile::read(int* err) {
  if (fd_ >= 0)
    if (auto text = read_to_end(fd_, true, err)) return text;
  // Not open yet, or its file went away (a removed cgroup's files answer
  // ENODEV): open the path again.
  if (fd_ >= 0) close(fd_);
  fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    set_err(err, errno);
    return std::nullopt;
  }
  auto text = read_to_end(fd_, true, err);
  if (!text) {
    close(fd_);
    fd_ = -1;
  }
  return text;
}

int write_file(const std::string& path, std::string_view data) {
  // No O_CREAT: these are kernel files; a missing one is an error, not a new file.
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n;
  do {
    n = write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  int rc = n < 0 ? -errno : (static_cast<size_t>(n) != data.size() ? -EIO : 0);
  close(fd);
  return rc;
}

std::optional<std::string> read_line(const std::string& path, int* err) {
  auto content = read_file(path, err);
  if (!content) return std::nullopt;
  return std::string(first_line(*content));
}

std::optional<int64_t> read_int(const std::string& path, int* err) {
  auto content = read_file(path, err);
  return content ? int_of_first_line(*content, err) : std::nullopt;
}

std::optional<int64_t> KeptFile::read_int(int* err) {
  auto content = read(err);
  return content ? int_of_first_line(*content, err) : std::nullopt;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join_path(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  while (a.size() > 1 && a.back() == '/') a.remove_suffix(1);
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return out;
    s.remove_prefix(pos + 1);
  }
}

}  // namespace colo
