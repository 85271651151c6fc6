// Helpers for privileged tests: cgroups the test creates (and always removes),
// child processes placed in them, the real agent as a child process, and
// Prometheus text scraping. Safety: everything here touches only what it made.
#pragma once
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace colo::test {

bool is_root();
// "colo-test-<pid>-<n>": unique per process and call.
std::string unique_name(const std::string& prefix = "colo-test");
// Skips the current test unless root (use at the top of a privileged test).
#define COLO_REQUIRE_ROOT()                                              \
  do {                                                                   \
    if (!::colo::test::is_root()) GTEST_SKIP() << "needs root";          \
  } while (0)

// The test's own cgroup tree: <cpu>/<name>, <cpuset>/<name> (v1), <memory>/<own
// memcg>/<name> (nested under the test process's memory cgroup), <unified>/<name>.
// The destructor kills the processes still inside (only those: they are the
// test's) and removes every directory it created, deepest first.
class TestCgroups {
 public:
  TestCgroups();
  ~TestCgroups();
  TestCgroups(const TestCgroups&) = delete;
  TestCgroups& operator=(const TestCgroups&) = delete;

  // Creates `rel` ("a" or "a/b") in every hierarchy.
  void create(const std::string& rel);
  // Absolute directories.
  std::string cpu_dir(const std::string& rel = "") const;
  std::string cpuset_dir(const std::string& rel = "") const;  // "" without a v1 cpuset
  std::string mem_dir(const std::string& rel = "") const;
  std::string v2_dir(const std::string& rel = "") const;
  // Paths relative to each hierarchy root, as the agent labels them.
  std::string cpu_rel(const std::string& rel = "") const;
  std::string mem_rel(const std::string& rel = "") const;
  std::string v2_rel(const std::string& rel = "") const;
  // cgroup.procs files of `rel` in all hierarchies (for Child::spawn).
  std::vector<std::string> procs_files(const std::string& rel) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string cpu_root_, cpuset_root_, mem_root_, v2_root_;  // mounts (+ own memcg)
  std::vector<std::string> created_;           // absolute dirs, creation order
};

// A child process; killed (SIGKILL) and reaped on destruction.
class Child {
 public:
  // Forks; the child moves itself into every `cgroup_procs` file, then execs
  // argv. With `stopped`, it stops itself (SIGSTOP) before exec, so a tracer can
  // be pointed at its pid first; resume with kill(SIGCONT). nullptr on failure.
  static std::unique_ptr<Child> spawn(const std::vector<std::string>& argv,
                                      const std::vector<std::string>& cgroup_procs = {},
                                      const std::string& stdout_file = "",
                                      bool stopped = false);
  ~Child();
  pid_t pid() const { return pid_; }
  // Waits up to timeout_ms; the exit status (as waitpid) or nullopt.
  std::optional<int> wait(int timeout_ms);
  bool running();
  void kill(int sig = 9);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Runs a command to completion; returns its exit code (-1 if it could not run).
int run_cmd(const std::vector<std::string>& argv, std::string* output = nullptr,
            int timeout_ms = 60000);

// One Prometheus sample.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
std::vector<Sample> parse_prometheus(const std::string& text);
// Sum of the samples named `name` whose labels include all of `match`; nullopt if none.
std::optional<double> metric(const std::vector<Sample>& s, const std::string& name,
                             const std::map<std::string, std::string>& match = {});

// The real agent as a child process, with its own socket, pin dir, port and
// config; stopped with SIGTERM and its pins removed on destruction.
class AgentProcess {
 public:
  // `config_yaml` is written to a temp file; `prefix` e.g. {"ip","netns","exec",NS}
  // runs the agent inside a network namespace.
  explicit AgentProcess(const std::string& config_yaml,
                        const std::vector<std::string>& extra_args = {},
                        const std::vector<std::string>& prefix = {});
  ~AgentProcess();
  // Waits for /readyz == 200; false if the agent exited or timed out.
  bool wait_ready(int timeout_ms = 20000);
  // GET path; nullopt when unreachable.
  std::optional<std::string> get(const std::string& path);
  std::vector<Sample> scrape();
  // Sends SIGTERM and waits; the exit code or nullopt.
  std::optional<int> stop(int timeout_ms = 10000);
  pid_t pid() const;
  int port() const { return port_; }  // of /metrics on 127.0.0.1 (in the agent's netns)
  const std::string& socket_path() const { return socket_; }
  const std::string& pin_dir() const { return pin_dir_; }
  const std::string& log_path() const { return log_; }
  const std::string& config_path() const { return config_; }
  std::string log() const;

 private:
  std::string dir_, socket_, pin_dir_, log_, config_;
  int port_ = 0;
  std::vector<std::string> prefix_;
  std::unique_ptr<Child> child_;
};

// A network namespace with lo up; deleted on destruction.
class NetNs {
 public:
  NetNs();
  ~NetNs();
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // {"nsenter","--net=/run/netns/<name>"}
  std::vector<std::string> exec_prefix() const;

 private:
  std::string name_;
  bool ok_ = false;
};

// Path of the workload helper (tests/load).
std::string load_binary();
// A free TCP port on 127.0.0.1.
int free_port();
void sleep_ms(int ms);

// An agent config for the control-loop tests: the pre-made big box `box` of
// `cg` (cpu and memory), the static policy (1.4 cores, `memory`) without
// smoothing, a fast controller (100 ms tick, 300 ms hold, `step`, floor 0.2),
// no network, and `eviction` as the eviction section.
std::string static_box_config(const TestCgroups& cg, const std::string& memory = "512Mi",
                              double step = 0.10,
                              const std::string& eviction = "eviction:\n  enabled: false\n");
// Makes `rel` of `cg` (its root by default) a level that holds BE only, as
// colo makes the box and the levels it creates above it on a bare host: the
// minimum weight (cpu.shares=2) and cpu.idle=1 where the kernel has it. A box
// below a test root at the default weight would compete with every task
// outside that root (the test's poller, the agent's threads, all of the root
// cgroup) at the root's weight, and make them wait out BE's slices. False
// (and a message on stderr) when a write failed.
bool make_be_only(const TestCgroups& cg, const std::string& rel = "");
// Polls `pred` every 20 ms until it holds or `timeout_ms` passed; its last value.
bool eventually(const std::function<bool()>& pred, int timeout_ms = 15000);
// Node memory in use, as a fraction (what the memory watermark compares).
double node_memory_used_fraction();
// MemTotal, MiB.
uint64_t node_memory_total_mib();

}  // namespace colo::test
