// Faults colo survives, with the real agent, programs and cgroups:
//  - SIGKILL in the middle of shrinking the box (an LS burst): the box keeps
//    its last limits (never unlimited) and a restarted agent adopts the box
//    and the pinned maps;
//  - cgroup churn (hundreds of cgroups created and removed per second, so
//    cgroups vanish between two reads): no crash, the removed cgroups' map
//    entries and metric series go away, fds and RSS do not grow, and the log
//    does not grow per event;
//  - bpffs not mounted: the agent mounts it (in a private mount namespace);
//  - no kernel BTF (hidden in a private mount namespace): the agent says so
//    once and serves cgroupfs signals, or, given bpf.btf_path, loads the
//    programs as raw_tp (tp_btf needs the kernel's BTF);
//  - a full ring buffer and a full per-cgroup map: the kernel side counts what
//    it lost, the agent exports it and logs it once, and keeps measuring.
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "colo_abi.h"
#include "support/privileged.h"
#include "support/temp_dir.h"
#include "support/text.h"
#include "userspace/bpf/programs.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

using Clock = std::chrono::steady_clock;

double secs_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The agent as a child we may SIGKILL and start again with the same pin
// directory, socket and port (AgentProcess picks new ones each time).
class RawAgent {
 public:
  RawAgent(const std::string& dir, const std::string& pin_dir, int port)
      : dir_(dir), pin_dir_(pin_dir), port_(port) {}
  ~RawAgent() { stop(); }
  bool start(const std::string& config_yaml) {
    std::ofstream(dir_ + "/config.yaml") << config_yaml;
    log_ = dir_ + "/agent-" + std::to_string(++starts_) + ".log";
    child_ = Child::spawn({COLO_BINARY, "agent", "--config", dir_ + "/config.yaml",
                           "--metrics-addr", "127.0.0.1:" + std::to_string(port_), "--socket",
                           dir_ + "/colo.sock", "--bpf-pin-dir", pin_dir_},
                          {}, log_);
    return child_ != nullptr;
  }
  bool wait_ready(int timeout_ms = 20000) {
    for (int t = 0; t < timeout_ms; t += 100) {
      if (!child_ || !child_->running()) return false;
      std::string out;
      if (run_cmd({"curl", "-sf", "--max-time", "2", url("/readyz")}, &out, 5000) == 0) return true;
      sleep_ms(100);
    }
    return false;
  }
  std::vector<Sample> scrape() {
    std::string out;
    if (run_cmd({"curl", "-sf", "--max-time", "5", url("/metrics")}, &out, 10000) != 0) return {};
    return parse_prometheus(out);
  }
  void sigkill() {
    if (!child_) return;
    child_->kill(SIGKILL);
    child_->wait(5000);
    child_.reset();
  }
  void stop() {
    if (!child_) return;
    ::kill(child_->pid(), SIGTERM);
    child_->wait(10000);
    child_.reset();
  }
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  bool running() { return child_ && child_->running(); }
  std::string log() const { return read_file(log_).value_or(""); }

 private:
  std::string url(const std::string& p) const {
    return "http://127.0.0.1:" + std::to_string(port_) + p;
  }
  std::string dir_, pin_dir_, log_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<Child> child_;
};

// A private directory and pin directory, removed at the end.
struct Scratch {
  std::string name = unique_name("colo-fault");
  std::string dir = "/tmp/" + name;
  std::string pins = "/sys/fs/bpf/" + name;
  Scratch() { mkdir(dir.c_str(), 0700); }
  ~Scratch() {
    std::string out;
    run_cmd({COLO_BINARY, "bpf", "cleanup", "--bpf-pin-dir", pins}, &out);
    run_cmd({"rm", "-rf", dir}, &out);
  }
};

// The id of a pinned map (bpftool), or -1.
long map_id(const std::string& pinned) {
  std::string out;
  if (run_cmd({"bpftool", "-j", "map", "show", "pinned", pinned}, &out) != 0) return -1;
  auto j = nlohmann::json::parse(out, nullptr, false);
  return j.is_object() && j.contains("id") ? j["id"].get<long>() : -1;
}

// Entries of a pinned hash map (bpftool), or -1.
long map_entries(const std::string& pinned) {
  std::string out;
  if (run_cmd({"bpftool", "-j", "map", "dump", "pinned", pinned}, &out) != 0) return -1;
  auto j = nlohmann::json::parse(out, nullptr, false);
  return j.is_array() ? static_cast<long>(j.size()) : -1;
}

// Aggressor pairs (colo_aggr) naming a cgroup that has no colo_cg_sched entry,
// i.e. a removed one; -1 if the maps cannot be read.
long stale_aggr_pairs(const std::string& pins) {
  std::string a, b;
  if (run_cmd({"bpftool", "-j", "map", "dump", "pinned", pins + "/colo_cg_sched"}, &a) != 0 ||
      run_cmd({"bpftool", "-j", "map", "dump", "pinned", pins + "/colo_aggr"}, &b) != 0)
    return -1;
  auto sched = nlohmann::json::parse(a, nullptr, false);
  auto aggr = nlohmann::json::parse(b, nullptr, false);
  if (!sched.is_array() || !aggr.is_array()) return -1;
  std::set<uint64_t> live;
  for (auto& e : sched) live.insert(e["formatted"]["key"].get<uint64_t>());
  long n = 0;
  for (auto& e : aggr) {
    auto& k = e["formatted"]["key"];
    uint64_t v = k["victim_cgid"].get<uint64_t>(), g = k["aggressor_cgid"].get<uint64_t>();
    if (!live.count(v) || (g && !live.count(g))) n++;
  }
  return n;
}

long fd_count(pid_t pid) {
  long n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n - 2;
}

long rss_kib(pid_t pid) {
  auto s = read_file("/proc/" + std::to_string(pid) + "/status").value_or("");
  auto p = s.find("VmRSS:");
  return p == std::string::npos ? -1 : std::strtol(s.c_str() + p + 6, nullptr, 10);
}

TEST(Faults, SigkillWhileShrinkingKeepsTheBoxLimitedAndARestartAdoptsIt) {
  COLO_REQUIRE_ROOT();
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  Scratch s;
  const std::string quota_file = cg.cpu_dir("box") + "/cpu.cfs_quota_us";
  const std::string limit_file = cg.mem_dir("box") + "/memory.limit_in_bytes";
  // The box as a previous agent left it: its full allowance (1.4 cores, 512 MiB). The
  // agent adopts that, and an LS burst (ours; on a shared machine other work
  // counts as LS too) makes it cut: SIGKILL the moment the cut lands.
  const int64_t grown = 140000;
  ASSERT_EQ(write_file(cg.cpu_dir("box") + "/cpu.cfs_period_us", "100000"), 0);
  ASSERT_EQ(write_file(quota_file, std::to_string(grown)), 0);
  ASSERT_EQ(write_file(limit_file, std::to_string(512ll << 20)), 0);
  auto be = Child::spawn({load_binary(), "hog", "60"}, cg.procs_files("box"));
  auto ls1 = Child::spawn({load_binary(), "hog", "6"}, cg.procs_files("ls"));
  auto ls2 = Child::spawn({load_binary(), "hog", "6"}, cg.procs_files("ls"));
  ASSERT_TRUE(be && ls1 && ls2);
  RawAgent agent(s.dir, s.pins, free_port());
  ASSERT_TRUE(agent.start(static_box_config(cg)));
  auto t = Clock::now();
  int64_t seen = grown;
  while (secs_since(t) < 10 && agent.running()) {
    seen = read_int(quota_file).value_or(-1);
    if (seen != grown) break;
  }
  agent.sigkill();
  ASSERT_NE(seen, grown) << "the box was not cut during the LS burst";
  std::cout << "SIGKILL with the quota at " << seen << " us (adopted: " << grown << ")\n";

  // Orphaned box: limited, as last written, and stays so.
  for (int i = 0; i < 10; i++) {
    auto q = read_int(quota_file);
    ASSERT_TRUE(q);
    EXPECT_GT(*q, 0) << "never unlimited";
    EXPECT_LE(*q, grown) << "within its last limits";
    auto lim = read_int(limit_file);
    EXPECT_TRUE(lim && *lim > 0 && *lim <= 512ll << 20) << "memory stays limited: " << *lim;
    sleep_ms(50);
  }
  auto procs = read_file(cg.cpu_dir("box") + "/cgroup.procs").value_or("");
  EXPECT_NE(procs.find(std::to_string(be->pid())), std::string::npos) << "BE stays in the box";
  const int64_t orphan_quota = read_int(quota_file).value_or(-1);
  const long sched_map = map_id(s.pins + "/colo_cg_sched");
  ASSERT_GT(sched_map, 0) << "the maps stay pinned";

  // Restart with the same pin directory: the same maps, the box's limits
  // adopted (never unlimited, never above the last limits meanwhile).
  ASSERT_TRUE(agent.start(static_box_config(cg)));
  t = Clock::now();
  int64_t lo = orphan_quota, hi = orphan_quota;
  bool ready = false;
  while (secs_since(t) < 20 && !ready) {
    for (int i = 0; i < 50; i++) {
      int64_t q = read_int(quota_file).value_or(-1);
      lo = std::min(lo, q);
      hi = std::max(hi, q);
    }
    ready = agent.wait_ready(100);
  }
  ASSERT_TRUE(ready) << agent.log();
  EXPECT_GT(lo, 0) << "never unlimited while the agent restarts";
  EXPECT_LE(hi, grown) << "never above the last limits";
  EXPECT_EQ(map_id(s.pins + "/colo_cg_sched"), sched_map) << "the pinned map was adopted";
  auto q0 = metric(agent.scrape(), "colo_bigbox_cpu_quota_cores");
  ASSERT_TRUE(q0);
  EXPECT_GT(*q0, 0);
  EXPECT_LE(*q0, orphan_quota / 100000.0 + 0.15)
      << "continues from the box's quota (" << orphan_quota << " us), not a full one";
  // Control goes on: the metric follows the file, which stays limited.
  for (int i = 0; i < 20; i++) {
    EXPECT_GT(read_int(quota_file).value_or(-1), 0) << "never unlimited";
    sleep_ms(100);
  }
  auto q1 = metric(agent.scrape(), "colo_bigbox_cpu_quota_cores");
  EXPECT_NEAR(q1.value_or(-1), read_int(quota_file).value_or(0) / 100000.0, 0.15);
  agent.stop();
  EXPECT_GT(read_int(quota_file).value_or(-1), 0) << "the safe state is limited too";
}

// Creates and removes cgroups in the cpu, memory and unified hierarchies as
// fast as it can for `seconds`, running a short task in every tenth so the
// kernel side sees them. Returns how many were created.
long churn(TestCgroups& cg, double seconds) {
  const std::vector<std::string> roots = {cg.cpu_dir("churn"), cg.mem_dir("churn"),
                                          cg.v2_dir("churn")};
  long n = 0;
  auto t = Clock::now();
  while (secs_since(t) < seconds) {
    std::vector<std::string> made;
    for (int k = 0; k < 20; k++, n++) {
      std::string leaf = "/c" + std::to_string(n);
      for (auto& r : roots)
        if (mkdir((r + leaf).c_str(), 0755) == 0) made.push_back(r + leaf);
      if (n % 10 == 0) {
        std::vector<std::string> files;
        for (auto& r : roots) files.push_back(r + leaf + "/cgroup.procs");
        auto c = Child::spawn({"true"}, files);
        if (c) c->wait(5000);
      }
    }
    for (auto& d : made)
      for (int tries = 0; tries < 100 && rmdir(d.c_str()) != 0 && errno == EBUSY; tries++)
        sleep_ms(5);
  }
  return n;
}

size_t series(const std::vector<Sample>& s, const std::string& cgroup_substr) {
  size_t n = 0;
  for (auto& x : s) {
    auto it = x.labels.find("cgroup");
    if (it != x.labels.end() && it->second.find(cgroup_substr) != std::string::npos) n++;
  }
  return n;
}

TEST(Faults, CgroupChurnLeavesNoTrace) {
  COLO_REQUIRE_ROOT();
  const char* env = getenv("COLO_CHURN_SECONDS");
  const double seconds = env ? std::atof(env) : 60;  // the minute
  TestCgroups cg;
  cg.create("churn");
  cg.create("steady");
  Scratch s;
  RawAgent agent(s.dir, s.pins, free_port());
  ASSERT_TRUE(agent.start("agent:\n  collect_interval: 100ms\ncgroup:\n  manage_bigbox: false\n"
                          "network:\n  interfaces: []\n"));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto steady = Child::spawn({load_binary(), "hog", "600"}, cg.procs_files("steady"));
  ASSERT_TRUE(steady);
  sleep_ms(2000);
  const pid_t pid = agent.pid();
  const long fds0 = fd_count(pid), rss0 = rss_kib(pid);
  const long sched0 = map_entries(s.pins + "/colo_cg_sched");
  const long mem0 = map_entries(s.pins + "/colo_cg_mem");
  const size_t log0 = agent.log().size();
  auto m0 = agent.scrape();
  const double tracked0 = metric(m0, "colo_tracked_cgroups").value_or(-1);
  ASSERT_GT(series(m0, cg.name() + "/steady"), 0u) << "a steady test cgroup is reported";

  long made = churn(cg, seconds);
  ASSERT_TRUE(agent.running()) << "the agent survived: " << agent.log();
  std::cout << "churn: " << made << " cgroups created and removed in " << seconds << " s ("
            << made / seconds << "/s) in 3 hierarchies\n";
  EXPECT_GT(made / seconds, 100) << "hundreds per second";

  // Back to the baseline once the removals are collected.
  auto t = Clock::now();
  std::vector<Sample> m;
  long sched = -1, mem = -1, stale = -1;
  while (secs_since(t) < 10) {
    m = agent.scrape();
    sched = map_entries(s.pins + "/colo_cg_sched");
    mem = map_entries(s.pins + "/colo_cg_mem");
    stale = stale_aggr_pairs(s.pins);
    if (series(m, cg.name() + "/churn/") == 0 && sched <= sched0 + 10 && mem <= mem0 + 10 &&
        stale <= 5)
      break;
    sleep_ms(200);
  }
  // Pairs of removed cgroups are dropped (a few may be seconds old).
  EXPECT_LE(stale, 5) << "colo_aggr pairs of removed cgroups";
  EXPECT_GE(stale, 0);
  EXPECT_EQ(series(m, cg.name() + "/churn/"), 0u) << "no series of removed cgroups";
  EXPECT_GT(series(m, cg.name() + "/steady"), 0u) << "the steady cgroup is still reported";
  // Other tests on the machine may add or remove a few cgroups meanwhile.
  EXPECT_LE(metric(m, "colo_tracked_cgroups").value_or(1e9), tracked0 + 10);
  EXPECT_LE(sched, sched0 + 10) << "sched map entries back to baseline (" << sched0 << ")";
  EXPECT_LE(mem, mem0 + 10) << "memory map entries back to baseline (" << mem0 << ")";
  const long fds1 = fd_count(pid), rss1 = rss_kib(pid);
  std::cout << "fds " << fds0 << " -> " << fds1 << ", RSS " << rss0 << " -> " << rss1
            << " KiB, sched entries " << sched0 << " -> " << sched << ", mem entries " << mem0
            << " -> " << mem << ", stale aggressor pairs " << stale << "\n";
  EXPECT_LE(fds1, fds0 + 2) << "no fd leak";
  EXPECT_LE(rss1, rss0 + 16 * 1024) << "RSS does not grow with churn";
  const std::string log = agent.log().substr(log0);
  EXPECT_LT(std::count(log.begin(), log.end(), '\n'), 30) << "not logged per event:\n"
                                                          << log.substr(0, 4000);
  // Nothing lost: every source but missed_switch (switches that reached no
  // tracer, repaired in the kernel; this VM has a few per second) and
  // no_queued_time (a switch-in for which the kernel kept no queue time: one
  // wait unmeasured, nothing dropped; seen once in 40,000 cgroups churned,
  // twice over two sessions), which must stay rare: at most one per 1,000
  // cgroups, or something churn does loses waits.
  std::string lost;
  for (const Sample& x : m)
    if (x.name == "colo_bpf_events_lost_total" && x.value > 0)
      lost += " " + x.labels.at("source") + "=" + std::to_string(static_cast<long>(x.value));
  const double no_queued =
      metric(m, "colo_bpf_events_lost_total", {{"source", "no_queued_time"}}).value_or(0);
  EXPECT_EQ(metric(m, "colo_bpf_events_lost_total").value_or(0) -
                metric(m, "colo_bpf_events_lost_total", {{"source", "missed_switch"}}).value_or(0) -
                no_queued,
            0)
      << "lost:" << lost;
  EXPECT_LE(no_queued, made / 1000.0) << "lost:" << lost;
}

// An agent that only measures: no box, no network, a fast collection.
const char* kQuietAgent =
    "agent:\n  collect_interval: 100ms\ncgroup:\n  manage_bigbox: false\n"
    "network:\n  interfaces: []\n";

// An AgentProcess prefix: the agent runs in a private mount namespace after
// the shell command `setup` succeeded there (the host's mounts are untouched).
std::vector<std::string> in_private_mount_ns(const std::string& setup) {
  return {"unshare", "--mount", "--propagation", "private", "sh", "-c",
          setup + " && exec \"$0\" \"$@\""};
}

TEST(Faults, BpffsNotMountedIsMountedByTheAgent) {
  COLO_REQUIRE_ROOT();
  // A private mount namespace without bpffs at /sys/fs/bpf; the host's mount
  // is not touched.
  AgentProcess agent(kQuietAgent, {},
                     in_private_mount_ns("umount -l /sys/fs/bpf && ! mountpoint -q /sys/fs/bpf"));
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  EXPECT_NE(agent.log().find("mounted bpffs at /sys/fs/bpf"), std::string::npos) << agent.log();
  auto m = agent.scrape();
  EXPECT_EQ(metric(m, "colo_bpf_attached").value_or(0), 1) << agent.log();
  EXPECT_GT(metric(m, "colo_tracked_cgroups").value_or(0), 0);
  EXPECT_EQ(agent.stop(), 0);
}

// Runs the agent in a private mount namespace where /sys/kernel/btf is an
// empty tmpfs: a kernel built without BTF, as far as the agent can tell.
std::vector<std::string> without_kernel_btf() {
  return in_private_mount_ns("mount -t tmpfs -o size=64k colo-test-nobtf /sys/kernel/btf && "
                             "! test -e /sys/kernel/btf/vmlinux");
}

TEST(Faults, MissingKernelBtfFallsBackToCgroupfsWithOneClearWarning) {
  COLO_REQUIRE_ROOT();
  if (!path_exists("/sys/kernel/btf/vmlinux")) GTEST_SKIP() << "this kernel has no BTF to hide";
  AgentProcess agent(kQuietAgent, {}, without_kernel_btf());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto m = agent.scrape();
  EXPECT_EQ(metric(m, "colo_bpf_attached", {{"mode", "none"}}), 0.0) << agent.log();
  EXPECT_TRUE(metric(m, "colo_cgroup_pressure_cpu_waiting_seconds_total", {{"cgroup", "/"}}))
      << "PSI from cgroupfs or /proc/pressure";
  EXPECT_FALSE(metric(m, "colo_cgroup_runqueue_latency_seconds_count"));
  sleep_ms(500);
  const std::string log = agent.log();
  EXPECT_EQ(count_of(log, "kernel BTF missing: /sys/kernel/btf/vmlinux"), 1u) << log;
  EXPECT_NE(log.find("bpf.btf_path"), std::string::npos) << "names the way out:\n" << log;
  EXPECT_NE(log.find("Falling back to cgroupfs"), std::string::npos) << log;
  EXPECT_EQ(agent.stop(), 0);
}

TEST(Faults, ExternalBtfFileLoadsRawTpWithoutKernelBtf) {
  COLO_REQUIRE_ROOT();
  auto btf = read_file("/sys/kernel/btf/vmlinux");
  if (!btf || btf->empty()) GTEST_SKIP() << "no kernel BTF to copy";
  TempDir tmp("colo-btf");
  const std::string file = tmp.put("vmlinux.btf", *btf);
  AgentProcess agent(std::string(kQuietAgent) + "bpf:\n  btf_path: " + file + "\n", {},
                     without_kernel_btf());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  EXPECT_TRUE(eventually([&] {
    return metric(agent.scrape(), "colo_cgroup_runqueue_latency_seconds_count").value_or(0) > 0;
  })) << "the programs measure with the external BTF:\n" << agent.log();
  auto m = agent.scrape();
  EXPECT_EQ(metric(m, "colo_bpf_attached", {{"mode", "raw_tp"}}), 1.0) << agent.log();
  EXPECT_NE(agent.log().find("tp_btf unavailable"), std::string::npos) << agent.log();
  EXPECT_EQ(agent.stop(), 0);
}

// Removes a test's pinned BPF objects when it goes, also when it fails.
struct PinsRemoved {
  std::string dir;
  ~PinsRemoved() {
    std::string e;
    bpf::cleanup_pins(dir, &e);
  }
};

// The urgent-event ring buffer at one page and every LS wait urgent: the
// kernel side fills it and counts each event it could not deliver; draining
// it delivers what fitted, and it takes events again.
TEST(Faults, FullRingBufferCountsTheLostUrgentEvents) {
  COLO_REQUIRE_ROOT();
  bpf::LoadOptions lo;
  lo.pin_dir = "/sys/fs/bpf/" + unique_name("colo-faults");
  lo.ringbuf_bytes = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  lo.urgent_threshold_ns = 1;
  lo.urgent_interval_ns = 0;
  lo.load_mem = lo.load_net = false;
  std::string err;
  auto p = bpf::Programs::load(lo, &err);
  ASSERT_TRUE(p) << err;
  PinsRemoved unpin{lo.pin_dir};
  // A ping-pong of two processes through pipes: a wakeup and a switch every
  // few microseconds, all in the test's (LS) cgroup.
  auto pingpong = [](const std::string& bytes) {
    std::string out;
    run_cmd({"sh", "-c", "yes | head -c " + bytes + " | cat > /dev/null"}, &out);
  };
  const uint64_t before = p->read_drops()[COLO_DROP_RINGBUF_FULL];
  pingpong("20000000");
  const uint64_t lost = p->read_drops()[COLO_DROP_RINGBUF_FULL] - before;
  EXPECT_GT(lost, 0u);
  int delivered = 0;
  p->poll_events(0, [&](const colo_urgent_event& e) {
    delivered++;
    EXPECT_GE(e.latency_ns, 1u);
  });
  // Each record: the event and an 8-byte header, rounded to 8.
  const int capacity = static_cast<int>(lo.ringbuf_bytes / (((sizeof(colo_urgent_event) + 7) & ~7ul) + 8));
  EXPECT_GT(delivered, 0);
  EXPECT_LE(delivered, capacity);
  // Drained, it delivers again.
  int again = 0;
  pingpong("100000");
  p->poll_events(0, [&](const colo_urgent_event&) { again++; });
  EXPECT_GT(again, 0) << "events flow again once the ring buffer was drained";
  std::cout << "lost " << lost << " urgent events, delivered " << delivered << " (capacity "
            << capacity << "), then " << again << "\n";
}

// The per-CPU state the fast path reads every 2 ms comes through the map's
// mmap'ed values, not a lookup per CPU: what it reads is what the map holds
// (the siblings the loader wrote, the switches since), CPU by CPU.
TEST(Programs, PerCpuStateIsReadThroughTheMapping) {
  COLO_REQUIRE_ROOT();
  bpf::LoadOptions lo;
  lo.pin_dir = "/sys/fs/bpf/" + unique_name("colo-mmap");
  lo.load_mem = lo.load_net = false;
  lo.sibling_of = {1, 0};  // CPUs 0 and 1 declared siblings
  // A map an older colo pinned there under a name colo_cpu retired.
  ASSERT_EQ(mkdir(lo.pin_dir.c_str(), 0700), 0);
  PinsRemoved unpin{lo.pin_dir};
  const int old_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "colo_class_ns", 4, 8, 4, nullptr);
  ASSERT_GE(old_fd, 0);
  ASSERT_EQ(bpf_obj_pin(old_fd, (lo.pin_dir + "/colo_class_ns").c_str()), 0);
  close(old_fd);
  std::string err;
  auto p = bpf::Programs::load(lo, &err);
  ASSERT_TRUE(p) << err;
  EXPECT_FALSE(path_exists(lo.pin_dir + "/colo_class_ns")) << "the retired pin is removed";
  ASSERT_TRUE(p->per_cpu_state_mapped()) << "colo_cpu and colo_stage are mmapable";
  sleep_ms(100);  // switches on both CPUs
  const int fd = bpf_obj_get((lo.pin_dir + "/colo_cpu").c_str());
  ASSERT_GE(fd, 0) << "colo_cpu is pinned";
  const auto cpus = p->read_cpus();
  ASSERT_GE(cpus.size(), 2u);
  for (uint32_t c = 0; c < cpus.size(); c++) {
    colo_cpu_state looked{};
    ASSERT_EQ(bpf_map_lookup_elem(fd, &c, &looked), 0);
    EXPECT_EQ(cpus[c].sibling, looked.sibling) << "CPU " << c;
    EXPECT_EQ(cpus[c].clk_at == 0, looked.clk_at == 0) << "CPU " << c;
    EXPECT_LE(cpus[c].since_ns, looked.since_ns) << "CPU " << c << ": read before the lookup";
    for (int k = 0; k < COLO_CLASS_MAX; k++)
      EXPECT_LE(cpus[c].class_ns[k], looked.class_ns[k]) << "CPU " << c << " class " << k;
  }
  uint64_t total = 0;
  for (const colo_cpu_state& cs : cpus)
    for (uint64_t v : cs.class_ns) total += v;
  EXPECT_GT(total, 0u) << "per-class CPU time through the mapping";
  EXPECT_EQ(cpus[0].sibling, 1u);
  EXPECT_EQ(cpus[1].sibling, 0u);
  EXPECT_GT(cpus[0].since_ns + cpus[1].since_ns, 0u) << "no switch seen through the mapping";
  close(fd);
}

// bpf.run_time_stats: the kernel's run-time stats follow the switch (they
// cost every program run two clock reads), and colo's programs' run counts
// grow only while they are on, unless another holder keeps them on.
TEST(Programs, RunTimeStatsFollowTheirSwitch) {
  COLO_REQUIRE_ROOT();
  bpf::LoadOptions lo;
  lo.pin_dir = "/sys/fs/bpf/" + unique_name("colo-stats");
  lo.load_mem = lo.load_net = false;
  lo.run_time_stats = false;
  std::string err;
  auto p = bpf::Programs::load(lo, &err);
  ASSERT_TRUE(p) << err;
  PinsRemoved unpin{lo.pin_dir};
  auto switch_runs = [&] {
    uint64_t n = 0;
    for (const auto& s : p->prog_stats())
      if (s.name.find("switch") != std::string::npos) n += s.run_cnt;
    return n;
  };
  EXPECT_FALSE(p->run_time_stats());
  const uint64_t off0 = switch_runs();
  sleep_ms(200);
  // Counted with colo's stats off: another holder (the sysctl, another
  // agent, bpftop) keeps them on, and only the "on" half can be checked.
  const bool others = switch_runs() != off0;
  if (others)
    std::cout << "the BPF run-time stats are on for another holder: the off half is not checked ("
              << "sysctl kernel.bpf_stats_enabled = "
              << read_line("/proc/sys/kernel/bpf_stats_enabled").value_or("?") << ")\n";
  ASSERT_TRUE(p->set_run_time_stats(true));
  EXPECT_TRUE(p->run_time_stats());
  const uint64_t on0 = switch_runs();
  sleep_ms(200);
  EXPECT_GT(switch_runs(), on0) << "the switch program ran 200 ms uncounted with the stats on";
  ASSERT_TRUE(p->set_run_time_stats(false));
  EXPECT_FALSE(p->run_time_stats());
  const uint64_t off1 = switch_runs();
  sleep_ms(200);
  if (!others) {
    EXPECT_EQ(switch_runs(), off1) << "still counted after turning them off";
  }
}

// The run counts of the sched_switch program an agent (pid) holds open, read
// through its fds (/proc/PID/fdinfo names the program of a program's fd and of
// a link's); nullopt when it holds none.
std::optional<uint64_t> agent_switch_runs(pid_t pid) {
  const std::string fds = "/proc/" + std::to_string(pid) + "/fdinfo/";
  DIR* d = opendir(fds.c_str());
  if (!d) return std::nullopt;
  std::optional<uint64_t> runs;
  std::set<uint32_t> seen;
  while (dirent* e = readdir(d)) {
    auto text = read_file(fds + e->d_name);
    size_t at = text ? text->find("prog_id:") : std::string::npos;
    if (at == std::string::npos) continue;
    const auto id = static_cast<uint32_t>(std::stoul(text->substr(at + 8)));
    if (!seen.insert(id).second) continue;
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
        std::string(info.name).rfind("colo_switch", 0) == 0)
      runs = runs.value_or(0) + info.run_cnt;
    close(fd);
  }
  closedir(d);
  return runs;
}

// Sampled run-time stats (bpf.run_time_stats_window of every period): the
// kernel counts colo's programs only in the windows, so between them no BPF
// program on the host pays for the clock reads; colo_bpf_prog_runs_total
// still follows what the programs really ran (checked against the kernel's
// own count, with the stats held on by the test).
TEST(Faults, RunTimeStatsAreSampledInWindowsAndCarriedBetween) {
  COLO_REQUIRE_ROOT();
  if (read_line("/proc/sys/kernel/bpf_stats_enabled").value_or("0") != "0")
    GTEST_SKIP() << "sysctl kernel.bpf_stats_enabled holds the stats on";
  AgentProcess agent(std::string(kQuietAgent) +
                     "bpf:\n  run_time_stats_window: 300ms\n  run_time_stats_period: 1500ms\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &out),
            0)
      << out;
  auto st = nlohmann::json::parse(out, nullptr, false);
  EXPECT_EQ(st["bpf"]["run_time_stats_sample"], "300ms of every 1500ms") << out;
  // A steady stream of context switches: two threads of this process
  // passing a byte back and forth through pipes, both on one CPU.
  int ab[2], ba[2];
  ASSERT_EQ(pipe(ab), 0);
  ASSERT_EQ(pipe(ba), 0);
  std::atomic<bool> stop{false};
  auto on_one_cpu = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  };
  std::thread ping([&] {
    on_one_cpu();
    char c = 0;
    while (!stop && write(ab[1], &c, 1) == 1 && read(ba[0], &c, 1) == 1) {
    }
    close(ab[1]);  // the pong's read returns 0
  });
  std::thread pong([&] {
    on_one_cpu();
    char c;
    while (read(ab[0], &c, 1) == 1 && write(ba[1], &c, 1) == 1) {
    }
  });
  struct Joined {
    std::thread &a, &b;
    std::atomic<bool>& stop;
    int *ab, *ba;
    ~Joined() {
      stop = true;
      a.join();
      b.join();
      for (int fd : {ab[0], ba[0], ba[1]}) close(fd);
    }
  } joined{ping, pong, stop, ab, ba};
  sleep_ms(500);

  // The kernel's counts grow in the agent's windows only: about a fifth of
  // the time, with over a second of stillness between windows.
  int grew = 0, ticks = 0, still_ms = 0, longest_still_ms = 0;
  std::optional<uint64_t> prev = agent_switch_runs(agent.pid());
  ASSERT_TRUE(prev) << "no colo_switch program among the agent's fds";
  for (auto end = Clock::now() + std::chrono::seconds(3); Clock::now() < end; ticks++) {
    sleep_ms(25);
    auto now = agent_switch_runs(agent.pid());
    ASSERT_TRUE(now);
    if (*now != *prev) {
      grew++;
      still_ms = 0;
    } else {
      longest_still_ms = std::max(longest_still_ms, still_ms += 25);
    }
    prev = now;
  }
  const double on = double(grew) / ticks;
  EXPECT_GT(on, 0.08) << grew << " of " << ticks << " readings";
  EXPECT_LT(on, 0.40) << grew << " of " << ticks << " readings";
  EXPECT_GE(longest_still_ms, 800) << "the stats were on between the windows";

  // With the test holding the stats on, the kernel counts every run: the
  // agent's totals over 6 s (four periods) agree with it.
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  ASSERT_GE(stats_fd, 0);
  auto exported = [&] {
    double n = 0;
    for (const Sample& m : agent.scrape())
      if (m.name == "colo_bpf_prog_runs_total" && m.labels.count("prog") &&
          m.labels.at("prog").rfind("colo_switch", 0) == 0)
        n += m.value;
    return n;
  };
  sleep_ms(200);
  const double e0 = exported();
  const uint64_t k0 = agent_switch_runs(agent.pid()).value_or(0);
  sleep_ms(6000);
  const double e1 = exported();
  const uint64_t k1 = agent_switch_runs(agent.pid()).value_or(0);
  close(stats_fd);
  const double truth = double(k1 - k0);
  std::cout << "kernel counts grew in " << grew << " of " << ticks << " readings 25 ms apart, "
            << "still for up to " << longest_still_ms << " ms; over 6 s the agent exported "
            << e1 - e0 << " switch runs, the kernel counted " << truth << "\n";
  ASSERT_GT(truth, 10000) << "the workload did not switch";
  EXPECT_NEAR(e1 - e0, truth, 0.15 * truth) << agent.log();
  EXPECT_EQ(agent.stop(), 0);
}

// bpf.max_cgroups at its minimum and a task visiting 100 new cgroups: the
// per-cgroup map fills, the failures are counted and exported, logged once,
// and the cgroups that fit keep their signals.
TEST(Faults, FullCgroupMapIsCountedExportedAndLoggedOnce) {
  COLO_REQUIRE_ROOT();
  AgentProcess agent(std::string(kQuietAgent) + "bpf:\n  max_cgroups: 64\n");
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  TestCgroups cg;
  std::string dirs;
  for (int i = 0; i < 100; i++) {
    cg.create("m" + std::to_string(i));
    dirs += " " + cg.cpu_dir("m" + std::to_string(i));
  }
  // A shell that moves itself through the cgroups and runs a short task in each.
  const std::string visit = "for d in" + dirs + "; do echo $$ > $d/cgroup.procs && sleep 0.002; done";
  std::string out;
  ASSERT_EQ(run_cmd({"sh", "-c", visit}, &out), 0) << out;
  EXPECT_TRUE(eventually([&] {
    return metric(agent.scrape(), "colo_bpf_events_lost_total", {{"source", "sched_map_full"}})
               .value_or(0) > 0;
  })) << agent.log();
  // More drops after the first: still one log line.
  ASSERT_EQ(run_cmd({"sh", "-c", visit}, &out), 0) << out;
  sleep_ms(300);
  auto m = agent.scrape();
  EXPECT_GT(metric(m, "colo_cgroup_runqueue_latency_seconds_count").value_or(0), 0)
      << "the cgroups that fit are still measured";
  const std::string log = agent.log();
  EXPECT_EQ(count_of(log, "colo_cg_sched is full"), 1u) << log;
  EXPECT_NE(log.find("raise bpf.max_cgroups"), std::string::npos) << log;
  EXPECT_EQ(agent.get("/healthz").value_or(""), "ok\n");
  EXPECT_EQ(agent.stop(), 0);
}

}  // namespace
}  // namespace colo::test
