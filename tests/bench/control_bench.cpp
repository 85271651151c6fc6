// colo_bench_control: the control loop's benchmarks (issue 3). Not a test: it
// prints what it measured next to the goals and exits 0 whenever it could
// measure. Root only; everything runs in cgroups it creates under a unique
// root (removed at exit), the servers in a network namespace it creates.
//
//   colo_bench_control reaction [CYCLES] [static|static:C|dynamic|dynamic:W:R[:P:G]]
//     A BE hog fills the big box; an LS CPU hog (1 core) is resumed (SIGCONT)
//     and the box's cpu.cfs_quota_us is polled every 0.25 ms until it is cut:
//     reaction = resume -> quota file changed. Then the LS hog is stopped
//     (SIGSTOP): recovery = stop -> quota back to >= 90% of its value before
//     the burst.                   Goals: median reaction <= 10 ms, recovery <= 2 s.
//   colo_bench_control isolation [SECONDS]
//     nginx (2 workers) on loopback in a netns under wrk at ~50% of its peak
//     and at full load, with CPU-hungry BE work (stress-ng --cpu 2): LS p99
//     alone, with stock sharing, with the static best practice (BE at
//     cpu.shares=2 and cpu.idle=1) and with colo managing the box, in one run.
//                                  Goals: LS p99 under colo <= 1.10x alone;
//                                  BE work under colo >= 90% of static.
//   colo_bench_control mechanisms [SECONDS]
//     The same nginx at ~50% load, in short phases that alternate, round after
//     round, between "alone" (the BE work stopped) and each way of holding BE
//     back that MECH_ROWS lists, without the agent (or with it: "colo:POLICY"):
//     per row, the median of the per-round LS p99 ratios to that round's
//     "alone", and the cores BE got. Short interleaved phases put every row
//     under the same background; 10 s rows one after another did not.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/privileged.h"
#include "userspace/util/fs.h"

using namespace colo;
using namespace colo::test;

namespace {

double mono_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void sleep_s(double s) {
  timespec ts{static_cast<time_t>(s), static_cast<long>((s - static_cast<time_t>(s)) * 1e9)};
  nanosleep(&ts, nullptr);
}

long read_long(const std::string& path) {
  auto v = read_file(path);
  if (!v) return -2;
  try {
    return std::stol(std::string(trim(*v)));
  } catch (...) {
    return -2;
  }
}

// The median of the values that are not NaN (the mean of the middle two for
// an even count); NaN when there are none.
double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * v.size())) - 1;
  return v[std::min(i, v.size() - 1)];
}

// The box is "box" in `cg`'s tree.
std::string agent_config(const TestCgroups& cg, const std::string& policy_arg) {
  // "POLICY@k=v,k=v": controller settings for the row, e.g.
  // "static:2.0@saturation=0.98,floor=0.5".
  std::string policy = policy_arg, knobs;
  if (auto at = policy_arg.find('@'); at != std::string::npos) {
    policy = policy_arg.substr(0, at);
    knobs = policy_arg.substr(at + 1);
  }
  std::ostringstream c;
  if (!knobs.empty()) {
    c << "controller:\n";
    std::istringstream kv(knobs);
    for (std::string item; std::getline(kv, item, ',');) {
      auto eq = item.find('=');
      if (eq == std::string::npos) continue;
      c << "  " << item.substr(0, eq) << ": " << item.substr(eq + 1) << "\n";
    }
  }
  c << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n  bigbox_create: false\n"
    << "  bigbox_paths:\n    memory: " << cg.mem_rel("box") << "\n"
    << "network:\n  interfaces: []\n"
    << "eviction:\n  enabled: false\n";
  // "static", "dynamic" (the built-in defaults), or "dynamic:W:R[:P:G]": the
  // dynamic policy with cpu_watermark W, a system reserve of R cores and,
  // when given, smoothing peak_window P and grow_time_constant G (seconds).
  // "static:C": a fixed C cores (the watermark at 1, so up to all CPUs).
  // Any of them may end in "@k=v,...": controller settings (see above).
  if (policy == "static")
    c << "policy:\n  mode: static\n  static:\n    cpu_cores: 1.4\n    memory: 1Gi\n";
  if (policy.rfind("static:", 0) == 0)
    c << "policy:\n  mode: static\n  cpu_watermark: 1.0\n  static:\n    cpu_cores: "
      << policy.substr(7) << "\n    memory: 1Gi\n";
  if (policy.rfind("dynamic:", 0) == 0) {
    double w = 0.7, r = 0.5, peak = -1, grow = -1;
    sscanf(policy.c_str(), "dynamic:%lf:%lf:%lf:%lf", &w, &r, &peak, &grow);
    c << "policy:\n  mode: dynamic\n  cpu_watermark: " << w << "\n  system_reserve:\n    cpu_cores: "
      << r << "\n";
    if (peak >= 0 && grow >= 0)
      c << "  smoothing:\n    peak_window: " << static_cast<long>(peak * 1000)
        << "ms\n    grow_time_constant: " << static_cast<long>(grow * 1000) << "ms\n";
  }
  return c.str();
}

// BENCH_AGENT_LOG=FILE: a copy of the agent's log (its decisions), to see why
// the box moved as it did.
void keep_agent_log(const AgentProcess& agent, const std::string& suffix = "") {
  const char* env = getenv("BENCH_AGENT_LOG");
  if (!env || !*env) return;
  const std::string to = env + suffix;
  std::ofstream out(to);
  out << agent.log();
  if (out.flush())
    printf("agent log: %s\n", to.c_str());
  else
    fprintf(stderr, "could not write the agent log to %s\n", to.c_str());
}

// ------------------------------------------------------------------ reaction
int reaction(int cycles, const std::string& policy) {
  // As on a bare host: the box's parent holds BE only and is idle (colo makes
  // the levels it creates above the box so), and LS lives elsewhere. With
  // the box and LS below one test root at the default weight, every task
  // outside it (this poller, the agent, anything in the root cgroup) would
  // compete with the BE hogs at that root's level and wait out their slices.
  TestCgroups cg, be_root;
  be_root.create("box");
  cg.create("ls");
  make_be_only(be_root);
  AgentProcess agent(agent_config(be_root, policy));
  if (!agent.wait_ready()) {
    fprintf(stderr, "agent did not become ready:\n%s\n", agent.log().c_str());
    return 1;
  }
  const std::string qfile = be_root.cpu_dir("box") + "/cpu.cfs_quota_us";
  auto be = Child::spawn({load_binary(), "hog", "3600"}, be_root.procs_files("box"));
  auto be2 = Child::spawn({load_binary(), "hog", "3600"}, be_root.procs_files("box"));
  auto ls = Child::spawn({load_binary(), "hog", "3600"}, cg.procs_files("ls"));
  if (!be || !be2 || !ls) return 1;
  sleep_s(0.05);
  ls->kill(SIGSTOP);

  // Steady state: the quota stops growing.
  auto settle = [&](double timeout) {
    long last = read_long(qfile);
    double since = mono_s(), start = since;
    while (mono_s() - start < timeout) {
      sleep_s(0.05);
      long q = read_long(qfile);
      if (q != last) {
        last = q;
        since = mono_s();
      } else if (mono_s() - since > 1.5) {
        return last;
      }
    }
    return last;
  };
  long steady = settle(30);
  printf("policy %s: box quota before the bursts %.2f cores\n", policy.c_str(), steady / 1e5);
  if (steady >= 0 && steady < 20000) {
    fprintf(stderr, "the box never grew above 0.2 cores: LS/system CPU demand on this machine leaves "
                    "BE no room (is it busy?); nothing to measure\n");
    return 1;
  }

  std::vector<double> react_ms, recover_s;
  int missed = 0;
  for (int i = 0; i < cycles; i++) {
    long before = settle(15);
    double t0 = mono_s();
    ls->kill(SIGCONT);
    double cut = -1;
    while (mono_s() - t0 < 2) {
      long q = read_long(qfile);
      if (q >= 0 && q < before) {
        cut = mono_s() - t0;
        break;
      }
      sleep_s(0.00025);
    }
    sleep_s(0.5);  // the burst goes on
    ls->kill(SIGSTOP);
    double t1 = mono_s(), back = -1;
    while (mono_s() - t1 < 15) {
      long q = read_long(qfile);
      if (q < 0 || q >= 0.9 * before) {  // -1: unlimited
        back = mono_s() - t1;
        break;
      }
      sleep_s(0.005);
    }
    if (cut < 0) {
      missed++;
    } else {
      react_ms.push_back(cut * 1000);
    }
    if (back >= 0) recover_s.push_back(back);
    printf("  cycle %2d: quota %.2f cores, cut after %s, back to 90%% after %s\n", i + 1,
           before / 1e5, cut < 0 ? "(not cut)" : (std::to_string(cut * 1000) + " ms").c_str(),
           back < 0 ? "(not back in 15 s)" : (std::to_string(back) + " s").c_str());
  }
  auto s = agent.scrape();
  double n = metric(s, "colo_control_reaction_seconds_count", {{"trigger", "ls_demand"}}).value_or(0);
  double sum = metric(s, "colo_control_reaction_seconds_sum", {{"trigger", "ls_demand"}}).value_or(0);
  double nu = metric(s, "colo_control_reaction_seconds_count", {{"trigger", "urgent_latency"}})
                  .value_or(0);
  printf("\nreaction (LS resumed -> quota file cut), %zu cuts, %d missed:\n", react_ms.size(), missed);
  printf("  median %.2f ms   p90 %.2f ms   max %.2f ms     goal: median <= 10 ms\n",
         percentile(react_ms, 0.5), percentile(react_ms, 0.9), percentile(react_ms, 1.0));
  printf("  agent's own colo_control_reaction_seconds{trigger=ls_demand}: %.0f cuts, mean %.2f ms"
         " (from the first sample LS no longer fit); urgent_latency cuts: %.0f\n",
         n, n ? sum / n * 1000 : NAN, nu);
  printf("recovery (LS stopped -> quota >= 90%% of before), %zu of %d:\n", recover_s.size(), cycles);
  printf("  median %.2f s   max %.2f s     goal: <= 2 s\n", percentile(recover_s, 0.5),
         percentile(recover_s, 1.0));
  keep_agent_log(agent);
  return 0;
}

// ----------------------------------------------------------------- isolation
struct WrkResult {
  double rps = NAN, p50_ms = NAN, p99_ms = NAN;
};

double to_ms(const std::string& num, const std::string& unit) {
  double v = std::stod(num);
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  return v;
}

WrkResult parse_wrk(const std::string& out) {
  WrkResult r;
  std::smatch m;
  std::regex rps(R"(Requests/sec:\s+([0-9.]+))"), p50(R"(\s50%\s+([0-9.]+)(us|ms|s)\b)"),
      p99(R"(\s99%\s+([0-9.]+)(us|ms|s)\b)");
  if (std::regex_search(out, m, rps)) r.rps = std::stod(m[1]);
  if (std::regex_search(out, m, p50)) r.p50_ms = to_ms(m[1], m[2]);
  if (std::regex_search(out, m, p99)) r.p99_ms = to_ms(m[1], m[2]);
  return r;
}

// stress-ng's bogo ops from its --metrics-brief report.
double parse_bogo(const std::string& out_path) {
  auto y = read_file(out_path);
  if (!y) return NAN;
  std::smatch m;
  std::regex ops(R"(\]\s+cpu\s+([0-9]+)\s)");
  std::string s = *y;
  if (std::regex_search(s, m, ops)) return std::stod(m[1]);
  return NAN;
}

// nginx, wrk and stress-ng are installed; else says which is not, as `who`.
bool tools_installed(const char* who) {
  for (const char* tool : {"nginx", "wrk", "stress-ng"})
    if (run_cmd({"sh", "-c", std::string("command -v ") + tool + " >/dev/null"}) != 0) {
      fprintf(stderr, "%s: %s is not installed (apt-get install nginx wrk stress-ng)\n", who, tool);
      return false;
    }
  return true;
}

// The BE work of every row: CPU-bound, with hardly any memory footprint.
std::vector<std::string> be_work_argv() {
  return {"stress-ng", "--cpu", "2", "--cpu-method", "int64"};
}

// wrk connections that make `load` of the closed-loop `peak` rate when each
// waits `think_ms` between its requests.
int conns_for(const WrkResult& peak, double load, double think_ms) {
  return std::max(1, static_cast<int>(std::lround(load * peak.rps * (think_ms + peak.p50_ms) / 1000)));
}

// The cgroup.procs files a BE task of `rel` goes into: every hierarchy, the
// cpuset too (TestCgroups::procs_files() leaves it out), as colo exec and the
// kubelet place BE tasks; otherwise the box's cpuset holds none of them.
std::vector<std::string> be_procs_files(const TestCgroups& cg, const std::string& rel) {
  auto files = cg.procs_files(rel);
  if (!cg.cpuset_dir(rel).empty()) files.push_back(cg.cpuset_dir(rel) + "/cgroup.procs");
  return files;
}

struct Isolation {
  TestCgroups cg;
  NetNs ns;
  std::string dir = "/tmp/" + unique_name("colo-bench-iso");
  int port = 0;
  std::unique_ptr<Child> nginx;

  bool start_nginx() {
    mkdir(dir.c_str(), 0755);
    write_file(dir + "/index.html", std::string(612, 'x'));
    port = 18080;
    std::ofstream c(dir + "/nginx.conf");
    c << "daemon off;\nmaster_process on;\nworker_processes 2;\npid " << dir << "/nginx.pid;\n"
      << "error_log " << dir << "/error.log warn;\nevents { worker_connections 1024; }\n"
      << "http {\n  access_log off;\n  client_body_temp_path " << dir << ";\n"
      << "  proxy_temp_path " << dir << ";\n  fastcgi_temp_path " << dir << ";\n"
      << "  uwsgi_temp_path " << dir << ";\n  scgi_temp_path " << dir << ";\n"
      << "  server {\n    listen 127.0.0.1:" << port << ";\n    root " << dir << ";\n  }\n}\n";
    c.close();
    auto argv = ns.exec_prefix();
    for (auto a : {"nginx", "-c"}) argv.push_back(a);
    argv.push_back(dir + "/nginx.conf");
    nginx = Child::spawn(argv, cg.procs_files("ls"), dir + "/nginx.out");
    sleep_s(0.5);
    return nginx && nginx->running();
  }

  // wrk in the "client" cgroup; `delay_ms` > 0 throttles each connection.
  WrkResult wrk(int seconds, int conns, double delay_ms) {
    std::string script = dir + "/delay.lua";
    {
      std::ofstream s(script);
      s << "function delay()\n  return " << delay_ms << "\nend\n";
    }
    auto argv = ns.exec_prefix();
    for (std::string a : std::vector<std::string>{"wrk", "-t2", "-c" + std::to_string(conns),
                                                  "-d" + std::to_string(seconds) + "s",
                                                  "--latency"})
      argv.push_back(a);
    if (delay_ms > 0) {
      argv.push_back("-s");
      argv.push_back(script);
    }
    argv.push_back("http://127.0.0.1:" + std::to_string(port) + "/index.html");
    std::string out_file = dir + "/wrk.out";
    auto c = Child::spawn(argv, cg.procs_files("client"), out_file);
    if (!c || !c->wait((seconds + 30) * 1000)) return {};
    return parse_wrk(read_file(out_file).value_or(""));
  }

  // BE work: stress-ng --cpu 2 in `rel` for `seconds`, started now; returns it.
  std::unique_ptr<Child> start_be(const std::string& rel, int seconds, const std::string& out) {
    auto argv = be_work_argv();
    argv.insert(argv.end(), {"--timeout", std::to_string(seconds) + "s", "--metrics-brief"});
    return Child::spawn(argv, be_procs_files(cg, rel), out);
  }

  ~Isolation() {
    if (nginx) nginx->kill(SIGKILL);
    run_cmd({"rm", "-rf", dir});
  }
};

std::string fmt2(double v) {
  char b[32];
  snprintf(b, sizeof b, "%.2f", v);
  return b;
}

int isolation(int seconds) {
  if (!tools_installed("isolation")) return 1;
  Isolation iso;
  if (!iso.ns.ok()) return 1;
  for (const char* c : {"ls", "client", "box", "be-stock", "be-static"}) iso.cg.create(c);
  // The static best practice, set up without colo: minimum weight and SCHED_IDLE for the group.
  make_be_only(iso.cg, "be-static");
  if (!iso.start_nginx()) {
    fprintf(stderr, "nginx did not start: %s\n", read_file(iso.dir + "/nginx.out").value_or("").c_str());
    return 1;
  }
  // Peak: closed loop, nothing else running.
  WrkResult peak = iso.wrk(5, 32, 0);
  printf("nginx peak (wrk -t2 -c32, closed loop): %.0f req/s, p99 %.3f ms\n", peak.rps, peak.p99_ms);
  // ~50%: each connection waits 2 ms between requests (wrk's delay() is in
  // whole ms), with as many connections as make half the peak rate.
  const double d = 2;
  const int conns = conns_for(peak, 0.5, d);

  struct Row {
    std::string name;
    WrkResult half, full;
    double be_ops = NAN;
  };
  // Rows by name in the order first run; each holds one result per round.
  std::vector<std::pair<std::string, std::vector<Row>>> rows;
  auto run = [&](const std::string& name, const std::string& be_rel) {
    Row r{name};
    std::unique_ptr<Child> be;
    std::string yaml = iso.dir + "/" + name + ".stress.out";
    if (!be_rel.empty()) {
      be = iso.start_be(be_rel, 2 * seconds + 2, yaml);
      sleep_s(1);
    }
    r.half = iso.wrk(seconds, conns, d);
    r.full = iso.wrk(seconds, 32, 0);
    if (be) {
      be->wait((2 * seconds + 30) * 1000);
      r.be_ops = parse_bogo(yaml);
    }
    auto it = std::find_if(rows.begin(), rows.end(), [&](auto& e) { return e.first == name; });
    if (it == rows.end()) it = rows.insert(rows.end(), {name, {}});
    it->second.push_back(r);
    printf("  %-22s 50%%: %7.0f req/s p99 %7.3f ms   full: %7.0f req/s p99 %7.3f ms   BE %.0f bogo ops\n",
           name.c_str(), r.half.rps, r.half.p99_ms, r.full.rps, r.full.p99_ms, r.be_ops);
    fflush(stdout);
  };
  // ISO_ROUNDS=N: every row N times, the rows of a round one after another,
  // so that a change of the machine's background hits all rows alike; the
  // summary gives each row's median of its per-round ratios.
  const char* rounds_env = getenv("ISO_ROUNDS");
  const int rounds = std::max(1, rounds_env ? atoi(rounds_env) : 1);
  // One row per entry of ISO_POLICIES (default: the built-in dynamic
  // policy), e.g. ISO_POLICIES="dynamic dynamic:0.95:0.1 static:1.0 quota:1.0".
  // "quota:C" is not colo: the static best practice plus a fixed CFS quota of
  // C cores, set once. Beside "colo static:C" it tells what the quota costs LS
  // from what colo's changes of it (and of the cpuset) cost.
  const char* env = getenv("ISO_POLICIES");
  std::vector<std::string> policies;
  {
    std::istringstream pols(env && *env ? env : "dynamic");
    for (std::string pol; pols >> pol;) policies.push_back(pol);
  }
  // The cgroup of a "quota:C" row: "be-quota-C".
  auto quota_rel = [](const std::string& pol) { return "be-quota-" + pol.substr(6); };
  for (const auto& pol : policies) {
    if (pol.rfind("quota:", 0) != 0) continue;
    double cores = atof(pol.c_str() + 6);
    if (!(cores > 0)) {
      fprintf(stderr, "isolation: bad policy %s (quota:C, C > 0 cores)\n", pol.c_str());
      return 2;
    }
    const std::string rel = quota_rel(pol);
    iso.cg.create(rel);
    make_be_only(iso.cg, rel);
    const std::string dir = iso.cg.cpu_dir(rel);
    if (write_file(dir + "/cpu.cfs_period_us", "100000") != 0 ||
        write_file(dir + "/cpu.cfs_quota_us", std::to_string(std::lround(cores * 100000))) != 0) {
      fprintf(stderr, "isolation: could not set the quota of %s\n", dir.c_str());
      return 1;
    }
  }
  printf("each row: %d s at ~50%% (%d conns, %.0f ms think time) then %d s at full load (32 conns); "
         "%d round(s)\n",
         seconds, conns, d, seconds, rounds);
  for (int round = 1; round <= rounds; round++) {
    if (rounds > 1) printf("round %d\n", round);
    run("alone", "");
    run("stock", "be-stock");
    run("static", "be-static");
    for (const auto& pol : policies) {
      if (pol.rfind("quota:", 0) == 0) {
        run("no agent, " + pol, quota_rel(pol));
        continue;
      }
      // "nobe:POLICY": the agent with that policy, and no BE work at all:
      // what the agent itself (its programs on every switch, its 2 ms
      // fast-path reads) costs LS.
      const bool no_be = pol.rfind("nobe:", 0) == 0;
      const std::string agent_pol = no_be ? pol.substr(5) : pol;
      AgentProcess agent(agent_config(iso.cg, agent_pol));
      if (!agent.wait_ready()) {
        fprintf(stderr, "agent not ready:\n%s\n", agent.log().c_str());
        return 1;
      }
      sleep_s(2);
      // What the agent itself spends over the row: its process (the control
      // loop, fast-path reads, cgroup writes, scrapes) and its programs.
      const auto s0 = agent.scrape();
      const double t0 = mono_s();
      run(no_be ? "colo " + agent_pol + ", no BE" : "colo " + pol, no_be ? "" : "box");
      const double wall = mono_s() - t0;
      // BENCH_AGENT_LOG=FILE: each colo row's agent log as FILE.ROUND.POLICY.
      keep_agent_log(agent, "." + std::to_string(round) + "." + pol);
      auto s = agent.scrape();
      auto delta = [&](const char* name, const std::map<std::string, std::string>& labels = {}) {
        return metric(s, name, labels).value_or(0) - metric(s0, name, labels).value_or(0);
      };
      auto cuts = [&](const char* trigger) {
        return delta("colo_control_reaction_seconds_count", {{"trigger", trigger}});
      };
      printf("  colo %s: %.0f fast-path cuts (ls_demand), %.0f urgent cuts; agent process %.2f%% "
             "of a core, its BPF programs %.2f%%\n",
             pol.c_str(), cuts("ls_demand"), cuts("urgent_latency"),
             100 * delta("process_cpu_seconds_total") / wall,
             100 * delta("colo_bpf_prog_run_seconds_total") / wall);
    }
    // Alone again at the end of the round: how far the machine drifted
    // while the round ran (the ratios are to the round's first "alone").
    run("alone, end of round", "");
  }
  // Per round, each row against that round's "alone" and "static".
  const auto& alone = rows[0].second;
  const auto& stat = rows[2].second;
  auto cell = [&](const std::vector<double>& v, const char* unit) {
    const double m = median(v);
    std::string c = std::isnan(m) ? "-" : (fmt2(m) + unit);
    if (v.size() > 1) {
      c += " (";
      for (size_t i = 0; i < v.size(); i++) c += (i ? " " : "") + fmt2(v[i]);
      c += ")";
    }
    return c;
  };
  printf("\nLS p99 / alone and BE work / static best practice%s\n",
         rounds > 1 ? ": median of the rounds (each round)" : "");
  printf("  %-22s %-26s %-26s %s\n", "row", "50% load", "full load", "BE work");
  for (auto& [name, rs] : rows) {
    std::vector<double> half, full, be;
    for (size_t i = 0; i < rs.size(); i++) {
      half.push_back(rs[i].half.p99_ms / alone[i].half.p99_ms);
      full.push_back(rs[i].full.p99_ms / alone[i].full.p99_ms);
      be.push_back(rs[i].be_ops / stat[i].be_ops);
    }
    printf("  %-22s %-26s %-26s %s\n", name.c_str(), cell(half, "x").c_str(), cell(full, "x").c_str(),
           cell(be, "").c_str());
  }
  printf("goals: colo <= 1.10x alone at 50%% load, BE work >= 0.90 of the static best practice\n");
  return 0;
}


// ---------------------------------------------------------------- mechanisms
// The CPU time (ns) of the tasks in cpu cgroup `dir`, from /proc/PID/task/*/schedstat.
uint64_t cgroup_task_cpu_ns(const std::string& dir) {
  uint64_t sum = 0;
  auto procs = read_file(dir + "/cgroup.procs").value_or("");
  std::istringstream in(procs);
  for (long pid; in >> pid;) {
    const std::string tdir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(tdir.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      auto st = read_file(tdir + "/" + e->d_name + "/schedstat");
      if (st) sum += std::strtoull(st->c_str(), nullptr, 10);
    }
    closedir(d);
  }
  return sum;
}

// Signals every task in cpu cgroup `dir` (the bench's own BE cgroup only).
void signal_cgroup(const std::string& dir, int sig) {
  std::istringstream in(read_file(dir + "/cgroup.procs").value_or(""));
  for (long pid; in >> pid;) ::kill(static_cast<pid_t>(pid), sig);
}

// A row of MECH_ROWS, parts joined by '+':
//   idle         the static best practice (cpu.shares=2, cpu.idle=1) on all CPUs
//   cpus:N       ... confined by cpuset to the last N online CPUs
//   quota:C      ... with a CFS quota of C cores (100 ms period)
//   quota:C@Pms  ... with a period of P ms
//   colo:POLICY  BE in the agent's box, the agent running POLICY (one such row)
struct Mechanism {
  std::string name;
  int cpus = 0;           // 0: all
  double quota = -1;      // cores; < 0: none
  long period_us = 100000;
  std::string colo;       // agent policy, or ""
};

std::optional<Mechanism> parse_mechanism(const std::string& row) {
  Mechanism m{row};
  std::istringstream parts(row);
  for (std::string p; std::getline(parts, p, '+');) {
    if (p == "idle") continue;
    if (p.rfind("cpus:", 0) == 0) {
      m.cpus = atoi(p.c_str() + 5);
      if (m.cpus <= 0) return std::nullopt;
    } else if (p.rfind("quota:", 0) == 0) {
      double ms = 100;
      m.quota = atof(p.c_str() + 6);
      if (auto at = p.find('@'); at != std::string::npos) ms = atof(p.c_str() + at + 1);
      if (!(m.quota > 0) || !(ms >= 1 && ms <= 1000)) return std::nullopt;
      m.period_us = std::lround(ms * 1000);
    } else if (p.rfind("colo:", 0) == 0 && p.size() > 5) {
      m.colo = p.substr(5);
    } else {
      return std::nullopt;
    }
  }
  if (!m.colo.empty() && (m.cpus || m.quota > 0)) return std::nullopt;
  return m;
}

int mechanisms(int seconds) {
  if (!tools_installed("mechanisms")) return 1;
  const char* rows_env = getenv("MECH_ROWS");
  std::vector<Mechanism> rows;
  {
    std::istringstream in(rows_env && *rows_env
                              ? rows_env
                              : "idle cpus:1 quota:1.0 quota:1.0@10ms cpus:1+quota:0.5 quota:0.5");
    int colo_rows = 0;
    for (std::string r; in >> r;) {
      auto m = parse_mechanism(r);
      if (!m || (!m->colo.empty() && ++colo_rows > 1)) {
        fprintf(stderr,
                "mechanisms: bad row %s (idle, cpus:N, quota:C[@Pms] joined by '+', or one "
                "colo:POLICY)\n",
                r.c_str());
        return 2;
      }
      rows.push_back(*m);
    }
  }
  const char* rounds_env = getenv("MECH_ROUNDS");
  const int rounds = std::max(1, rounds_env ? atoi(rounds_env) : 8);
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

  Isolation iso;
  if (!iso.ns.ok()) return 1;
  for (const char* c : {"ls", "client", "box", "be-mech"}) iso.cg.create(c);
  make_be_only(iso.cg, "be-mech");
  if (!iso.start_nginx()) {
    fprintf(stderr, "nginx did not start: %s\n", read_file(iso.dir + "/nginx.out").value_or("").c_str());
    return 1;
  }
  WrkResult peak = iso.wrk(5, 32, 0);
  const double d = 2;
  // MECH_LOAD: the fraction of the peak rate the phases run at (default 0.5).
  const char* load_env = getenv("MECH_LOAD");
  const double load = load_env ? atof(load_env) : 0.5;
  if (!(load > 0 && load <= 1)) {
    fprintf(stderr, "mechanisms: MECH_LOAD=%s is not a fraction in (0, 1]\n", load_env);
    return 2;
  }
  const int conns = conns_for(peak, load, d);
  printf("nginx peak %.0f req/s; phases of %d s at ~%.0f%% (%d conns, %.0f ms think time), %d rounds\n",
         peak.rps, seconds, 100 * load, conns, d, rounds);

  // The BE work runs for the whole bench and is stopped (SIGSTOP) while
  // another row runs: the mechanism rows' in be-mech, the colo row's in box.
  const std::string mech_dir = iso.cg.cpu_dir("be-mech"), box_dir = iso.cg.cpu_dir("box");
  std::vector<std::unique_ptr<Child>> be;
  be.push_back(Child::spawn(be_work_argv(), be_procs_files(iso.cg, "be-mech"),
                            iso.dir + "/be-mech.out"));
  std::unique_ptr<AgentProcess> agent;
  for (auto& m : rows)
    if (!m.colo.empty()) {
      agent = std::make_unique<AgentProcess>(agent_config(iso.cg, m.colo));
      if (!agent->wait_ready()) {
        fprintf(stderr, "agent not ready:\n%s\n", agent->log().c_str());
        return 1;
      }
      be.push_back(Child::spawn(be_work_argv(), be_procs_files(iso.cg, "box"),
                                iso.dir + "/be-box.out"));
    }
  for (auto& c : be)
    if (!c) return 1;
  sleep_s(1);
  auto apply = [&](const Mechanism& m) {
    std::string cpus = ncpu > 1 ? "0-" + std::to_string(ncpu - 1) : "0";
    if (m.cpus && m.cpus < ncpu)
      cpus = ncpu - m.cpus == ncpu - 1 ? std::to_string(ncpu - 1)
                                       : std::to_string(ncpu - m.cpus) + "-" + std::to_string(ncpu - 1);
    const std::string cs = iso.cg.cpuset_dir("be-mech");
    bool ok = cs.empty() || write_file(cs + "/cpuset.cpus", cpus) == 0;
    ok = write_file(mech_dir + "/cpu.cfs_quota_us", "-1") == 0 && ok;
    ok = write_file(mech_dir + "/cpu.cfs_period_us", std::to_string(m.period_us)) == 0 && ok;
    if (m.quota > 0)
      ok = write_file(mech_dir + "/cpu.cfs_quota_us",
                      std::to_string(std::lround(m.quota * m.period_us))) == 0 && ok;
    return ok;
  };
  struct Phase {
    double p99_ms = NAN, rps = NAN, be_cores = NAN;
  };
  std::map<std::string, std::vector<Phase>> res;
  std::vector<std::string> order{"alone"};
  for (auto& m : rows) order.push_back(m.name);
  for (int round = 1; round <= rounds; round++) {
    printf("round %d:", round);
    for (const auto& name : order) {
      const Mechanism* m = nullptr;
      for (auto& r : rows)
        if (r.name == name) m = &r;
      signal_cgroup(mech_dir, m && m->colo.empty() ? SIGCONT : SIGSTOP);
      signal_cgroup(box_dir, m && !m->colo.empty() ? SIGCONT : SIGSTOP);
      if (m && m->colo.empty() && !apply(*m)) {
        fprintf(stderr, "\nmechanisms: could not set up %s\n", name.c_str());
        return 1;
      }
      sleep_s(0.3);
      const std::string be_dir = m && !m->colo.empty() ? box_dir : mech_dir;
      const uint64_t c0 = cgroup_task_cpu_ns(be_dir);
      const double t0 = mono_s();
      WrkResult w = iso.wrk(seconds, conns, d);
      Phase ph{w.p99_ms, w.rps, (cgroup_task_cpu_ns(be_dir) - c0) * 1e-9 / (mono_s() - t0)};
      if (!m) ph.be_cores = 0;
      res[name].push_back(ph);
      printf("  %s %.2f ms %.2f cores", name.c_str(), ph.p99_ms, ph.be_cores);
      fflush(stdout);
    }
    printf("\n");
  }
  signal_cgroup(mech_dir, SIGCONT);
  signal_cgroup(box_dir, SIGCONT);
  const auto& alone = res["alone"];
  std::vector<double> ap;
  for (auto& p : alone) ap.push_back(p.p99_ms);
  printf("\nLS p99 at ~%.0f%% load: alone median %.3f ms (rounds %.3f-%.3f)\n", 100 * load, median(ap),
         *std::min_element(ap.begin(), ap.end()), *std::max_element(ap.begin(), ap.end()));
  printf("  %-24s %-16s %-16s %s\n", "row", "p99 / alone", "(of medians)", "BE cores (median)");
  for (auto& m : rows) {
    std::vector<double> ratio, p99, cores;
    const auto& ps = res[m.name];
    for (size_t i = 0; i < ps.size(); i++) {
      ratio.push_back(ps[i].p99_ms / alone[i].p99_ms);
      p99.push_back(ps[i].p99_ms);
      cores.push_back(ps[i].be_cores);
    }
    printf("  %-24s %-16s %-16s %.2f\n", m.name.c_str(), (fmt2(median(ratio)) + "x").c_str(),
           (fmt2(median(p99) / median(ap)) + "x").c_str(), median(cores));
  }
  if (agent) keep_agent_log(*agent);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (!is_root()) {
    fprintf(stderr, "colo_bench_control: needs root\n");
    return 1;
  }
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "reaction")
    return reaction(argc > 2 ? atoi(argv[2]) : 20, argc > 3 ? argv[3] : "static");
  if (mode == "isolation") return isolation(argc > 2 ? atoi(argv[2]) : 10);
  if (mode == "mechanisms") return mechanisms(argc > 2 ? atoi(argv[2]) : 3);
  fprintf(stderr, "usage: colo_bench_control reaction [CYCLES] [static|dynamic|dynamic:W:R[:P:G]]\n"
                  "       colo_bench_control isolation [SECONDS]\n"
                  "       colo_bench_control mechanisms [SECONDS]\n");
  return 2;
}
