// colo touches nothing it does not own. Foreign cgroups (siblings of the big
// box under the test's unique root, in the cpu, cpuset, memory and unified
// hierarchies) get distinct settings and live processes; after a full run of
// the real agent with load, an LS burst, an eviction, a SIGHUP reload and
// `colo disable --evict` / `enable`, not one byte of their knob files has
// changed and no foreign process was moved or signalled. Also: the control
// socket is private to root, and /metrics is read-only on loopback.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "agent/config.h"
#include "support/privileged.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

// Writable files whose value the kernel changes by itself (usage peaks,
// failure counters, accumulated CPU time): not settings.
const std::set<std::string> kCounters = {
    "cpuacct.usage", "memory.max_usage_in_bytes", "memory.kmem.max_usage_in_bytes",
    "memory.kmem.tcp.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes", "memory.failcnt",
    "memory.kmem.failcnt", "memory.kmem.tcp.failcnt", "memory.memsw.failcnt", "memory.peak"};

using Snapshot = std::map<std::string, std::string>;

// Every readable file of `dir` that root may write (the knobs), by path.
void snapshot_dir(const std::string& dir, Snapshot* out) {
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  while (dirent* e = readdir(d)) {
    std::string path = dir + "/" + e->d_name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IWUSR)) continue;
    std::string n = e->d_name;
    // PSI files are writable (to register triggers) but report live pressure.
    if (kCounters.count(n) || n.rfind("cpuacct.usage", 0) == 0 ||
        (n.size() > 9 && n.compare(n.size() - 9, 9, ".pressure") == 0))
      continue;
    auto v = read_file(path);
    if (v) (*out)[path] = *v;  // write-only files (memory.force_empty, ...) cannot be read
  }
  closedir(d);
}

Snapshot snapshot(const std::vector<std::string>& dirs) {
  Snapshot s;
  for (auto& d : dirs) snapshot_dir(d, &s);
  return s;
}

// What a process is and where it lives: its cgroups, OOM adjustment, state
// and pending signals.
struct ProcState {
  std::string cgroups, oom_score_adj, state, sigpnd, shdpnd;
  bool operator==(const ProcState& o) const {
    return cgroups == o.cgroups && oom_score_adj == o.oom_score_adj && state == o.state &&
           sigpnd == o.sigpnd && shdpnd == o.shdpnd;
  }
};
std::string field(const std::string& status, const std::string& key) {
  auto p = status.find("\n" + key + ":");
  if (p == std::string::npos) return "";
  auto e = status.find('\n', p + 1);
  return std::string(trim(std::string_view(status).substr(p + key.size() + 2, e - p - key.size() - 2)));
}
ProcState proc_state(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  std::string status = read_file(base + "/status").value_or("");
  return {read_file(base + "/cgroup").value_or("gone"), read_file(base + "/oom_score_adj").value_or(""),
          field(status, "State"), field(status, "SigPnd"), field(status, "ShdPnd")};
}
std::ostream& operator<<(std::ostream& o, const ProcState& s) {
  return o << "state=" << s.state << " oom=" << trim(s.oom_score_adj) << " sigpnd=" << s.sigpnd
           << " shdpnd=" << s.shdpnd << " cgroups=\n" << s.cgroups;
}

std::string agent_config(const TestCgroups& cg, double trigger, double release, double step) {
  char ev[256];
  snprintf(ev, sizeof(ev),
           "eviction:\n  enabled: true\n  cooldown: 2s\n"
           "  memory: {trigger: %.4f, release: %.4f, sustain: 0s}\n",
           trigger, release);
  return static_box_config(cg, "8Gi", step, ev);
}

TEST(Security, ForeignCgroupsAndProcessesAreNeverTouched) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  const std::vector<std::string> foreign = {"ls", "fa", "fb", "fb/deep"};
  for (const char* r : {"box", "ls", "fa", "fb", "fb/deep"}) cg.create(r);
  ASSERT_FALSE(cg.cpuset_dir().empty()) << "this host has a v1 cpuset hierarchy";

  // Distinct settings in every foreign cgroup.
  int i = 0;
  for (auto& r : foreign) {
    i++;
    ASSERT_EQ(write_file(cg.cpu_dir(r) + "/cpu.shares", std::to_string(100 + 37 * i)), 0);
    ASSERT_EQ(write_file(cg.cpu_dir(r) + "/cpu.cfs_period_us", std::to_string(50000 + 1000 * i)), 0);
    // A v1 child may not have more bandwidth than its parent: decreasing.
    ASSERT_EQ(write_file(cg.cpu_dir(r) + "/cpu.cfs_quota_us", std::to_string(200000 - 20000 * i)),
              0);
    // Children first: narrowing a parent below a child's CPUs is refused.
  }
  for (auto& [r, cpus] : std::vector<std::pair<std::string, std::string>>{
           {"fb/deep", "1"}, {"fb", "0-1"}, {"fa", "0"}, {"ls", "0-1"}})
    ASSERT_EQ(write_file(cg.cpuset_dir(r) + "/cpuset.cpus", cpus), 0) << r;
  i = 0;
  for (auto& r : foreign) {
    i++;
    ASSERT_EQ(write_file(cg.mem_dir(r) + "/memory.limit_in_bytes",
                         std::to_string((400 + 16 * i) << 20)), 0);
    ASSERT_EQ(write_file(cg.mem_dir(r) + "/memory.soft_limit_in_bytes",
                         std::to_string((100 + 8 * i) << 20)), 0);
    ASSERT_EQ(write_file(cg.v2_dir(r) + "/cgroup.max.descendants", std::to_string(10 + i)), 0);
  }
  // The parent of everything: also not colo's.
  std::vector<std::string> dirs = {cg.cpu_dir(), cg.cpuset_dir(), cg.mem_dir(), cg.v2_dir()};
  for (auto& r : foreign)
    for (auto d : {cg.cpu_dir(r), cg.cpuset_dir(r), cg.mem_dir(r), cg.v2_dir(r)}) dirs.push_back(d);

  // Live foreign processes (in all four hierarchies), and an LS service.
  std::vector<std::unique_ptr<Child>> procs;
  for (auto& r : {"fa", "fb/deep"}) {
    auto files = cg.procs_files(r);
    files.push_back(cg.cpuset_dir(r) + "/cgroup.procs");
    for (int k = 0; k < 2; k++) {
      procs.push_back(Child::spawn({"sleep", "600"}, files));
      ASSERT_TRUE(procs.back());
    }
  }
  procs.push_back(Child::spawn({"sleep", "600"}, cg.procs_files("ls")));
  ASSERT_TRUE(procs.back());
  sleep_ms(300);
  std::map<pid_t, ProcState> before_procs;
  for (auto& p : procs) before_procs[p->pid()] = proc_state(p->pid());
  Snapshot before = snapshot(dirs);
  ASSERT_GT(before.size(), 60u) << "knob files found";
  for (const char* knob : {"/fa/cpu.shares", "/fb/deep/memory.limit_in_bytes",
                           "/fb/cpuset.cpus", "/fa/cgroup.max.descendants"}) {
    bool found = false;
    for (auto& [path, v] : before) found |= path.size() > strlen(knob) &&
                                            path.compare(path.size() - strlen(knob), strlen(knob), knob) == 0;
    EXPECT_TRUE(found) << knob << " is in the snapshot";
  }

  // The run: a BE CPU hog and a sleeper in the box, an LS burst, a BE memory
  // hog over the node watermark (evicted), a reload, disable --evict, enable.
  double used = node_memory_used_fraction();
  AgentProcess agent(agent_config(cg, used + 0.02, used + 0.01, 0.10));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto be_cpu = Child::spawn({load_binary(), "hog", "60"}, cg.procs_files("box"));
  auto be_sleep = Child::spawn({"sleep", "600"}, cg.procs_files("box"));
  ASSERT_TRUE(be_cpu && be_sleep);
  {
    auto ls1 = Child::spawn({load_binary(), "hog", "2"}, cg.procs_files("ls"));
    auto ls2 = Child::spawn({load_binary(), "hog", "2"}, cg.procs_files("ls"));
    ASSERT_TRUE(ls1 && ls2);
    EXPECT_TRUE(eventually([&] {
      auto q = metric(agent.scrape(), "colo_bigbox_cpu_quota_cores");
      return q && *q <= 0.5;
    }, 3000)) << "the LS burst cuts the box";
    ls1->wait(10000);
    ls2->wait(10000);
  }
  auto hog = Child::spawn({load_binary(), "anon", std::to_string(node_memory_total_mib() * 4 / 100), "60"},
                          cg.procs_files("box"));
  ASSERT_TRUE(hog);
  auto st = hog->wait(30000);
  ASSERT_TRUE(st) << "the BE memory hog was not evicted: " << agent.log();
  EXPECT_TRUE(WIFSIGNALED(*st));
  EXPECT_GE(metric(agent.scrape(), "colo_evictions_total", {{"reason", "memory"}}).value_or(0), 1);

  // SIGHUP with a changed file: reloaded, still only the box.
  {
    std::ofstream(agent.config_path()) << agent_config(cg, used + 0.02, used + 0.01, 0.25);
  }
  ASSERT_EQ(kill(agent.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] { return agent.log().find("configuration reloaded") != std::string::npos; },
                       5000)) << agent.log();

  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--evict", "--socket", agent.socket_path()}, &out), 0)
      << out;
  EXPECT_TRUE(be_sleep->wait(15000)) << "disable --evict ends the box's tasks";
  EXPECT_TRUE(be_cpu->wait(15000));
  ASSERT_EQ(run_cmd({COLO_BINARY, "enable", "--socket", agent.socket_path()}, &out), 0) << out;
  sleep_ms(1000);
  EXPECT_EQ(agent.stop(), 0) << agent.log();

  // Nothing foreign changed.
  Snapshot after = snapshot(dirs);
  size_t changed = 0;
  for (auto& [path, v] : before) {
    auto it = after.find(path);
    if (it == after.end()) {
      ADD_FAILURE() << path << " disappeared";
      changed++;
    } else if (it->second != v) {
      ADD_FAILURE() << path << " changed: '" << v << "' -> '" << it->second << "'";
      changed++;
    }
  }
  EXPECT_EQ(changed, 0u) << "of " << before.size() << " foreign knob files";
  std::cout << "compared " << before.size() << " foreign knob files and " << before_procs.size()
            << " foreign processes: " << changed << " changed\n";
  for (auto& p : procs) {
    EXPECT_TRUE(p->running()) << "foreign process " << p->pid() << " was ended";
    EXPECT_EQ(proc_state(p->pid()), before_procs[p->pid()]) << "foreign process " << p->pid();
  }
}

// An HTTP request on a raw TCP connection; the status line, or "" on failure.
std::string http_status(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) out.assign(buf, n);
  }
  close(fd);
  return out.substr(0, out.find("\r\n"));
}

// Listening TCP sockets of `pid` as "ADDR:PORT" in /proc/net/tcp{,6} hex form.
std::vector<std::string> listening(pid_t pid) {
  std::set<std::string> inodes;
  std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = opendir(fd_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      char target[256];
      ssize_t n = readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      std::string t(target, n);
      if (t.rfind("socket:[", 0) == 0) inodes.insert(t.substr(8, t.size() - 9));
    }
    closedir(d);
  }
  std::vector<std::string> out;
  for (const char* f : {"/net/tcp", "/net/tcp6"}) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + f).value_or(""));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream l(line);
      std::string sl, local, remote, state, q, tr, rt, uid, timeout, inode;
      l >> sl >> local >> remote >> state >> q >> tr >> rt >> uid >> timeout >> inode;
      if (state == "0A" && inodes.count(inode)) out.push_back(local);
    }
  }
  return out;
}

TEST(Security, ControlSocketIsRootOnlyAndMetricsReadOnlyOnLoopback) {
  COLO_REQUIRE_ROOT();
  // The defaults, built in and printed: loopback only.
  std::vector<ConfigError> errs;
  Config def = parse_config("", &errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_EQ(def.agent.metrics_addr.rfind("127.0.0.1:", 0), 0u) << def.agent.metrics_addr;
  EXPECT_NE(default_config_yaml().find("metrics_addr: 127.0.0.1:"), std::string::npos);

  AgentProcess agent("agent:\n  collect_interval: 100ms\ncgroup:\n  manage_bigbox: false\n"
                     "network:\n  interfaces: []\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  struct stat st {};
  ASSERT_EQ(lstat(agent.socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);

  // /metrics: only on 127.0.0.1, and only GET/HEAD.
  auto socks = listening(agent.pid());
  ASSERT_EQ(socks.size(), 1u) << "one listening TCP socket";
  EXPECT_EQ(socks[0].substr(0, 9), "0100007F:") << socks[0] << " is 127.0.0.1";
  int port = std::stoi(socks[0].substr(9), nullptr, 16);
  EXPECT_NE(http_status(port, "GET /metrics HTTP/1.0\r\n\r\n").find(" 200"), std::string::npos);
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH"}) {
    std::string s = http_status(port, std::string(m) +
                                          " /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_TRUE(s.find(" 404") != std::string::npos || s.find(" 405") != std::string::npos ||
                s.find(" 400") != std::string::npos)
        << m << ": " << s;
  }
  EXPECT_NE(http_status(port, "GET /../../etc/passwd HTTP/1.0\r\n\r\n").find(" 404"),
            std::string::npos);
}

// The capabilities colo declares (README, "Least privilege"): the agent runs
// as root with every other capability dropped from its bounding set by capsh.
// CAP_BPF, CAP_PERFMON: load programs, read maps, tracepoints; CAP_SYS_ADMIN:
// BPF_ENABLE_STATS, mounting bpffs, cgroup v1 writes; CAP_NET_ADMIN: TC
// egress filters; CAP_KILL: evict BE tasks of other users; CAP_DAC_OVERRIDE:
// oom_score_adj of BE tasks of other users.
const std::vector<int> kDeclaredCaps = {1 /*DAC_OVERRIDE*/, 5 /*KILL*/, 12 /*NET_ADMIN*/,
                                        21 /*SYS_ADMIN*/, 38 /*PERFMON*/, 39 /*BPF*/};

std::vector<std::string> capsh_prefix(const std::vector<int>& keep) {
  int last = std::atoi(read_line("/proc/sys/kernel/cap_last_cap").value_or("40").c_str());
  std::string drop;
  for (int c = 0; c <= last; c++) {
    if (std::find(keep.begin(), keep.end(), c) != keep.end()) continue;
    drop += (drop.empty() ? "" : ",") + std::to_string(c);
  }
  return {"capsh", "--drop=" + drop, "--", "-c", "exec \"$0\" \"$@\""};
}

uint64_t cap_eff(pid_t pid) {
  auto s = read_file("/proc/" + std::to_string(pid) + "/status").value_or("");
  auto p = s.find("CapEff:");
  return p == std::string::npos ? 0 : std::strtoull(s.c_str() + p + 7, nullptr, 16);
}

TEST(Security, RunsWithOnlyTheDeclaredCapabilities) {
  COLO_REQUIRE_ROOT();
  std::string out;
  ASSERT_EQ(run_cmd({"capsh", "--help"}, &out), 0) << "capsh (libcap2-bin) is installed";
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  std::ostringstream c;
  c << "agent:\n  collect_interval: 100ms\n"
    << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n  bigbox_create: false\n"
    << "  bigbox_paths:\n    memory: " << cg.mem_rel("box") << "\n"
    << "network:\n  interfaces: []\n"
    << "policy:\n  mode: static\n  static:\n    cpu_cores: 1.0\n    memory: 512Mi\n"
    << "eviction:\n  enabled: false\n";
  // A BE task of another user (nobody), and an LS one.
  auto be = Child::spawn({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep",
                          "600"},
                         cg.procs_files("box"));
  auto ls = Child::spawn({"sleep", "600"}, cg.procs_files("ls"));
  ASSERT_TRUE(be && ls);
  AgentProcess agent(c.str(), {}, capsh_prefix(kDeclaredCaps));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  uint64_t want = 0;
  for (int cap : kDeclaredCaps) want |= 1ull << cap;
  EXPECT_EQ(cap_eff(agent.pid()), want) << std::hex << cap_eff(agent.pid());
  auto m = agent.scrape();
  EXPECT_EQ(metric(m, "colo_bpf_attached").value_or(0), 1) << agent.log();
  EXPECT_GT(metric(m, "colo_tracked_cgroups").value_or(0), 0);
  // The first tick follows the first collection (readiness) by a moment.
  double q = metric(m, "colo_bigbox_cpu_quota_cores").value_or(0);
  for (int i = 0; i < 100 && q <= 0; i++, sleep_ms(20))
    q = metric(agent.scrape(), "colo_bigbox_cpu_quota_cores").value_or(0);
  EXPECT_GT(q, 0) << "the box is driven";
  EXPECT_EQ(read_line("/proc/" + std::to_string(be->pid()) + "/oom_score_adj"), "1000")
      << "oom_score_adj of another user's BE task";
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--evict", "--socket", agent.socket_path()}, &out), 0)
      << out;
  auto st = be->wait(5000);
  ASSERT_TRUE(st) << "another user's BE task was evicted";
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM);
  EXPECT_TRUE(ls->running());
  EXPECT_EQ(agent.stop(), 0);
}

}  // namespace
}  // namespace colo::test
