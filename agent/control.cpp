#include "agent/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "userspace/util/log.h"

namespace colo {
namespace {

bool make_addr(const std::string& path, sockaddr_un* a, std::string* err) {
  memset(a, 0, sizeof(*a));
  a->sun_family = AF_UNIX;
  if (path.size() >= sizeof(a->sun_path)) {
    *err = "socket path too long: " + path;
    return false;
  }
  memcpy(a->sun_path, path.c_str(), path.size());
  return true;
}

// Reads until '\n' or EOF, bounded in size and time.
bool read_line(int fd, std::string* out, int timeout_ms) {
  char buf[4096];
  while (out->size() < (16u << 20)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !out->empty();
    out->append(buf, n);
    if (out->find('\n') != std::string::npos) return true;
  }
  return false;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

}  // namespace

ControlServer::~ControlServer() { stop(); }

bool ControlServer::start(const std::string& path, Handler handler, std::string* err) {
  path_ = path;
  handler_ = std::move(handler);
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *err = "cannot create " + dir + ": " + strerror(errno);
      return false;
    }
  }
  sockaddr_un a;
  if (!make_addr(path, &a, err)) return false;
  // A socket left by a crashed agent is ours to replace; anything else is not.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = path + " exists and is not a socket";
      return false;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(probe);
    if (live) {
      *err = "another colo agent is serving " + path;
      return false;
    }
    unlink(path.c_str());
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  mode_t old = umask(0177);
  int rc = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  umask(old);
  if (rc != 0 || chmod(path.c_str(), 0600) != 0 || listen(fd_, 16) != 0) {
    *err = "cannot listen on " + path + ": " + strerror(errno);
    close(fd_);
    fd_ = -1;
    return false;
  }
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    *err = std::string("pipe: ") + strerror(errno);
    return false;
  }
  thread_ = std::thread([this] { serve(); });
  return true;
}

void ControlServer::stop() {
  if (wake_[1] >= 0) {
    char c = 1;
    (void)!write(wake_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int* f : {&fd_, &wake_[0], &wake_[1]}) {
    if (*f >= 0) close(*f);
    *f = -1;
  }
  if (!path_.empty()) unlink(path_.c_str());
  path_.clear();
}

void ControlServer::serve() {
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::string line;
    nlohmann::json resp;
    if (!read_line(c, &line, 2000)) {
      resp = {{"error", "no request"}};
    } else {
      auto req = nlohmann::json::parse(line, nullptr, false);
      if (req.is_discarded() || !req.is_object())
        resp = {{"error", "request is not a JSON object"}};
      else
        resp = handler_(req);
    }
    write_all(c, resp.dump() + "\n");
    close(c);
  }
}

std::optional<nlohmann::json> control_request(const std::string& path,
                                              const nlohmann::json& request, std::string* err,
                                              int timeout_ms) {
  sockaddr_un a;
  if (!make_addr(path, &a, err)) return std::nullopt;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    *err = "cannot reach the colo agent at " + path + " (" + strerror(errno) +
           "): is `colo agent` running?";
    close(fd);
    return std::nullopt;
  }
  std::string line;
  bool ok = write_all(fd, request.dump() + "\n") && read_line(fd, &line, timeout_ms);
  close(fd);
  if (!ok) {
    *err = "no answer from the colo agent at " + path;
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded()) {
    *err = "malformed answer from the colo agent";
    return std::nullopt;
  }
  return j;
}

}  // namespace colo
