#include "support/privileged.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "userspace/cgroup/layout.h"
#include "userspace/util/fs.h"
#include "userspace/util/parse.h"

namespace colo::test {
namespace fs = std::filesystem;

bool is_root() { return geteuid() == 0; }

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string static_box_config(const TestCgroups& cg, const std::string& memory, double step,
                              const std::string& eviction) {
  std::ostringstream c;
  c << "agent:\n  collect_interval: 100ms\n"
    << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n"
    << "  bigbox_create: false\n"
    << "  bigbox_paths:\n    memory: " << cg.mem_rel("box") << "\n"
    << "network:\n  interfaces: []\n"
    << "policy:\n  mode: static\n  static:\n    cpu_cores: 1.4\n    memory: " << memory << "\n"
    << "  smoothing:\n    peak_window: 0s\n    grow_time_constant: 0s\n"
    << "controller:\n  tick: 100ms\n  hold: 300ms\n  step: " << step << "\n  floor: 0.20\n"
    << eviction;
  return c.str();
}

bool make_be_only(const TestCgroups& cg, const std::string& rel) {
  bool ok = true;
  const std::string dir = cg.cpu_dir(rel);
  for (auto [f, v] : {std::pair{"/cpu.shares", "2"}, std::pair{"/cpu.idle", "1"}}) {
    if (!path_exists(dir + f)) continue;  // cpu.idle: kernels since 5.15
    if (write_file(dir + f, v) != 0) {
      fprintf(stderr, "could not write %s%s\n", dir.c_str(), f);
      ok = false;
    }
  }
  return ok;
}

bool eventually(const std::function<bool()>& pred, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (pred()) return true;
    sleep_ms(20);
  }
  return pred();
}

namespace {
double meminfo_kib(const std::string& text, const char* key) {
  auto p = text.find(key);
  return p == std::string::npos ? 0.0 : std::strtod(text.c_str() + p + strlen(key), nullptr);
}
}  // namespace

double node_memory_used_fraction() {
  auto text = read_file("/proc/meminfo").value_or("");
  double total = meminfo_kib(text, "MemTotal:"), avail = meminfo_kib(text, "MemAvailable:");
  return total > 0 ? (total - avail) / total : 0;
}

uint64_t node_memory_total_mib() {
  return static_cast<uint64_t>(meminfo_kib(read_file("/proc/meminfo").value_or(""), "MemTotal:")) /
         1024;
}

std::string load_binary() { return COLO_TEST_LOAD; }

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// ---------------------------------------------------------------- TestCgroups

namespace {

std::vector<pid_t> procs_in(const std::string& dir) {
  std::vector<pid_t> out;
  auto text = read_file(dir + "/cgroup.procs");
  if (!text) return out;
  for (auto l : split(*text, '\n')) {
    l = trim(l);
    if (!l.empty()) out.push_back(std::atoi(std::string(l).c_str()));
  }
  return out;
}

}  // namespace

TestCgroups::TestCgroups() : name_(unique_name()) {
  std::string err;
  auto layout = CgroupLayout::discover("/sys/fs/cgroup", &err);
  if (!layout) throw std::runtime_error("no cgroup layout: " + err);
  const Hierarchy* cpu = layout->for_controller("cpu");
  const Hierarchy* mem = layout->for_controller("memory");
  const Hierarchy* v2 = layout->unified();
  if (cpu) cpu_root_ = cpu->mount;
  const Hierarchy* cpuset = layout->for_controller("cpuset");
  if (cpuset && !cpuset->v2 && cpuset != cpu) cpuset_root_ = cpuset->mount;
  if (v2) v2_root_ = v2->mount;
  if (mem) {
    // Nest memory cgroups under our own: limits above us still apply, and
    // nothing outside our subtree is touched.
    mem_root_ = mem->mount;
    auto self = read_file("/proc/self/cgroup");
    auto entries = self ? parse_proc_cgroup(*self) : std::nullopt;
    auto own = entries ? path_in(*entries, *mem) : std::nullopt;
    if (own && *own != "/") mem_root_ += *own;
  }
  create("");
}

// Subdirectories of `dir`, deepest first (what the code under test made below
// the test's own cgroups, e.g. job cgroups).
static void dirs_below(const std::string& dir, std::vector<std::string>* out, int depth = 0) {
  if (depth > 16) return;
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subs;
  while (dirent* e = readdir(d))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') subs.push_back(dir + "/" + e->d_name);
  closedir(d);
  for (auto& s : subs) {
    dirs_below(s, out, depth + 1);
    out->push_back(s);
  }
}

TestCgroups::~TestCgroups() {
  // Everything below our own directories first (the tests' uniquely named
  // root: nothing else lives there), then what we created, deepest first.
  std::vector<std::string> all;
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    std::vector<std::string> below;
    dirs_below(*it, &below);
    for (auto& b : below)
      if (std::find(created_.begin(), created_.end(), b) == created_.end() &&
          std::find(all.begin(), all.end(), b) == all.end())
        all.push_back(b);
    all.push_back(*it);
  }
  for (auto it = all.begin(); it != all.end(); ++it) {
    for (int tries = 0; tries < 50; tries++) {
      auto pids = procs_in(*it);
      if (pids.empty()) break;
      for (pid_t p : pids) ::kill(p, SIGKILL);  // only tasks inside our own cgroup
      sleep_ms(20);
    }
    for (int tries = 0; tries < 50 && rmdir(it->c_str()) != 0 && errno == EBUSY; tries++)
      sleep_ms(20);
  }
}

static std::string sub(const std::string& root, const std::string& name, const std::string& rel) {
  if (root.empty()) return "";
  return root + "/" + name + (rel.empty() ? "" : "/" + rel);
}

std::string TestCgroups::cpu_dir(const std::string& rel) const { return sub(cpu_root_, name_, rel); }
std::string TestCgroups::cpuset_dir(const std::string& rel) const {
  return sub(cpuset_root_, name_, rel);
}
std::string TestCgroups::mem_dir(const std::string& rel) const { return sub(mem_root_, name_, rel); }
std::string TestCgroups::v2_dir(const std::string& rel) const { return sub(v2_root_, name_, rel); }

static std::string rel_of(const std::string& abs, const std::string& mount) {
  return abs.substr(mount.size());
}

std::string TestCgroups::cpu_rel(const std::string& rel) const {
  return rel_of(cpu_dir(rel), cpu_root_);
}
std::string TestCgroups::v2_rel(const std::string& rel) const {
  return rel_of(v2_dir(rel), v2_root_);
}
std::string TestCgroups::mem_rel(const std::string& rel) const {
  // Relative to the memory hierarchy's mount, not to our own memcg.
  std::string err;
  auto layout = CgroupLayout::discover("/sys/fs/cgroup", &err);
  const Hierarchy* mem = layout ? layout->for_controller("memory") : nullptr;
  return mem ? rel_of(mem_dir(rel), mem->mount) : "";
}

void TestCgroups::create(const std::string& rel) {
  for (const std::string& dir : {cpu_dir(rel), cpuset_dir(rel), mem_dir(rel), v2_dir(rel)}) {
    if (dir.empty()) continue;
    if (std::find(created_.begin(), created_.end(), dir) != created_.end()) continue;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("mkdir " + dir + ": " + strerror(errno));
    created_.push_back(dir);
    // A new v1 cpuset has no CPUs or memory nodes: give it its parent's.
    if (!cpuset_root_.empty() && dir.rfind(cpuset_root_ + "/", 0) == 0) {
      std::string parent = dir.substr(0, dir.find_last_of('/'));
      for (const char* f : {"/cpuset.cpus", "/cpuset.mems"})
        write_file(dir + f, std::string(trim(read_file(parent + f).value_or(""))));
    }
  }
}

std::vector<std::string> TestCgroups::procs_files(const std::string& rel) const {
  std::vector<std::string> out;
  for (const std::string& dir : {cpu_dir(rel), mem_dir(rel), v2_dir(rel)})
    if (!dir.empty()) out.push_back(dir + "/cgroup.procs");
  return out;
}

// ---------------------------------------------------------------------- Child

std::unique_ptr<Child> Child::spawn(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& cgroup_procs,
                                    const std::string& stdout_file, bool stopped) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return nullptr;
  pid_t pid = fork();
  if (pid < 0) return nullptr;
  if (pid == 0) {
    close(report[0]);
    std::string self = std::to_string(getpid());
    for (auto& f : cgroup_procs) {
      if (write_file(f, self) != 0) {
        int e = errno ? errno : EIO;
        (void)!write(report[1], &e, sizeof(e));
        _exit(127);
      }
    }
    if (!stdout_file.empty()) {
      int fd = open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    }
    if (stopped) raise(SIGSTOP);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int e = errno;
    (void)!write(report[1], &e, sizeof(e));
    _exit(127);
  }
  close(report[1]);
  int e = 0;
  ssize_t n = 0;
  if (stopped) {
    int st = 0;
    waitpid(pid, &st, WUNTRACED);  // stopped before exec: exec errors show later
  } else {
    n = read(report[0], &e, sizeof(e));
  }
  close(report[0]);
  auto c = std::unique_ptr<Child>(new Child());
  c->pid_ = pid;
  if (n == sizeof(e)) {
    fprintf(stderr, "spawn %s failed: %s\n", argv[0].c_str(), strerror(e));
    c->wait(5000);
    return nullptr;
  }
  return c;
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> Child::wait(int timeout_ms) {
  if (reaped_) return std::nullopt;
  for (int waited = 0;; waited += 10) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return st;
    }
    if (r < 0 || waited >= timeout_ms) return std::nullopt;
    sleep_ms(10);
  }
}

bool Child::running() {
  if (reaped_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) reaped_ = true;
  return r == 0;
}

void Child::kill(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

int run_cmd(const std::vector<std::string>& argv, std::string* output, int timeout_ms) {
  std::string out_file = "/tmp/" + unique_name("colo-cmd") + ".out";
  auto c = Child::spawn(argv, {}, out_file);
  if (!c) return -1;
  auto st = c->wait(timeout_ms);
  if (output) *output = read_file(out_file).value_or("");
  unlink(out_file.c_str());
  if (!st) return -1;
  return WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

// ----------------------------------------------------------------- Prometheus

std::vector<Sample> parse_prometheus(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') i++;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      i++;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) break;
        std::string k = line.substr(i, eq - i);
        std::string v;
        size_t j = eq + 2;  // after ="
        while (j < line.size() && line[j] != '"') {
          if (line[j] == '\\' && j + 1 < line.size()) {
            char n = line[++j];
            v += n == 'n' ? '\n' : n;
          } else {
            v += line[j];
          }
          j++;
        }
        s.labels[k] = v;
        i = j + 1;
        if (i < line.size() && line[i] == ',') i++;
      }
      i++;  // '}'
    }
    std::string val = line.substr(line.find_first_not_of(' ', i));
    val = val.substr(0, val.find(' '));
    if (val == "+Inf") s.value = INFINITY;
    else if (val == "-Inf") s.value = -INFINITY;
    else s.value = std::strtod(val.c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<double> metric(const std::vector<Sample>& samples, const std::string& name,
                             const std::map<std::string, std::string>& match) {
  std::optional<double> sum;
  for (auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        ok = false;
        break;
      }
    }
    if (ok) sum = sum.value_or(0) + s.value;
  }
  return sum;
}

// -------------------------------------------------------------- AgentProcess

AgentProcess::AgentProcess(const std::string& config_yaml,
                           const std::vector<std::string>& extra_args,
                           const std::vector<std::string>& prefix)
    : prefix_(prefix) {
  std::string name = unique_name("colo-test-agent");
  dir_ = "/tmp/" + name;
  mkdir(dir_.c_str(), 0700);
  socket_ = dir_ + "/colo.sock";
  pin_dir_ = "/sys/fs/bpf/" + name;
  log_ = dir_ + "/agent.log";
  config_ = dir_ + "/config.yaml";
  std::ofstream(config_) << config_yaml;
  port_ = free_port();
  std::vector<std::string> argv = prefix;
  for (auto& a : std::vector<std::string>{COLO_BINARY, "agent", "--config", config_,
                                          "--metrics-addr", "127.0.0.1:" + std::to_string(port_),
                                          "--socket", socket_, "--bpf-pin-dir", pin_dir_})
    argv.push_back(a);
  for (auto& a : extra_args) argv.push_back(a);
  child_ = Child::spawn(argv, {}, log_);
}

AgentProcess::~AgentProcess() {
  stop();
  std::string out;
  run_cmd({COLO_BINARY, "bpf", "cleanup", "--bpf-pin-dir", pin_dir_}, &out);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

pid_t AgentProcess::pid() const { return child_ ? child_->pid() : -1; }

std::string AgentProcess::log() const { return read_file(log_).value_or(""); }

std::optional<std::string> AgentProcess::get(const std::string& path) {
  std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
  if (!prefix_.empty()) {
    std::vector<std::string> argv = prefix_;
    for (auto& a : std::vector<std::string>{"curl", "-sf", "--max-time", "5", url})
      argv.push_back(a);
    std::string out;
    if (run_cmd(argv, &out, 10000) != 0) return std::nullopt;
    return out;
  }
  httplib::Client cli("127.0.0.1", port_);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(5);
  auto r = cli.Get(path.c_str());
  if (!r || r->status != 200) return std::nullopt;
  return r->body;
}

bool AgentProcess::wait_ready(int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 100) {
    if (!child_ || !child_->running()) return false;
    if (get("/readyz")) return true;
    sleep_ms(100);
  }
  return false;
}

std::vector<Sample> AgentProcess::scrape() {
  auto text = get("/metrics");
  return text ? parse_prometheus(*text) : std::vector<Sample>{};
}

std::optional<int> AgentProcess::stop(int timeout_ms) {
  if (!child_) return std::nullopt;
  if (!child_->running()) {
    auto st = child_->wait(0);
    return st && WIFEXITED(*st) ? std::optional<int>(WEXITSTATUS(*st)) : std::nullopt;
  }
  child_->kill(SIGTERM);
  auto st = child_->wait(timeout_ms);
  if (!st) {
    child_->kill(SIGKILL);
    child_->wait(5000);
    return std::nullopt;
  }
  return WIFEXITED(*st) ? std::optional<int>(WEXITSTATUS(*st)) : std::nullopt;
}

// ---------------------------------------------------------------------- NetNs

NetNs::NetNs() : name_(unique_name("colo-test-ns")) {
  ok_ = run_cmd({"ip", "netns", "add", name_}) == 0 &&
        run_cmd({"ip", "-n", name_, "link", "set", "lo", "up"}) == 0;
}

NetNs::~NetNs() { run_cmd({"ip", "netns", "delete", name_}); }

// nsenter switches only the network namespace: unlike `ip netns exec`, which
// remounts /sys, the cgroup and bpf filesystems stay visible.
std::vector<std::string> NetNs::exec_prefix() const {
  return {"nsenter", "--net=/run/netns/" + name_};
}

}  // namespace colo::test
