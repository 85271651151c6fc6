// BE egress limiting on lo inside a network namespace of the test, with the
// real agent, real cgroups and real TCP traffic: a BE sender is held to its
// rate, an LS sender beside it gets all it asks for, the BE rate falls when LS
// traffic rises above the watermark and comes back after, a root qdisc colo
// did not create is left alone, and colo's qdisc and filter go on disable and
// exit (and come back on enable).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "support/privileged.h"
#include "support/temp_dir.h"

namespace colo::test {
namespace {

constexpr double kMB = 1e6;

// Cumulative bytes a tcp-sink saw, sampled every 10 ms.
struct Series {
  std::vector<std::pair<double, double>> pts;  // (CLOCK_MONOTONIC s, bytes)
  static Series load(const std::string& file) {
    Series s;
    std::ifstream in(file);
    long long ns;
    double b;
    while (in >> ns >> b) s.pts.emplace_back(ns * 1e-9, b);
    return s;
  }
  double at(double t) const {
    double v = 0;
    for (auto& [ts, b] : pts) {
      if (ts > t) break;
      v = b;
    }
    return v;
  }
  double rate(double a, double b) const { return (at(b) - at(a)) / (b - a); }
  // When the first bytes arrived (0: never).
  double first_byte() const {
    for (auto& [ts, b] : pts)
      if (b > 0) return ts;
    return 0;
  }
  double last_byte() const {
    double t = 0, prev = -1;
    for (auto& [ts, b] : pts) {
      if (b != prev) t = ts;
      prev = b;
    }
    return t;
  }
};

std::vector<std::string> in_ns(const NetNs& ns, std::vector<std::string> argv) {
  auto p = ns.exec_prefix();
  p.insert(p.end(), argv.begin(), argv.end());
  return p;
}

std::string tc(const NetNs& ns, std::vector<std::string> args) {
  args.insert(args.begin(), "tc");
  std::string out;
  run_cmd(in_ns(ns, args), &out);
  return out;
}

struct Rates {
  std::string high = "20mbps", low = "4mbps", watermark = "10mbps", hold = "300ms";
};

std::string limit_config(const TestCgroups& cg, const Rates& r) {
  std::ostringstream c;
  c << "agent:\n  collect_interval: 20ms\n"
    << "cgroup:\n  manage_bigbox: false\n  bigbox: " << cg.v2_rel("box") << "\n"
    << "network:\n  interfaces: [lo]\n  limit:\n    enabled: true\n"
    << "    high: " << r.high << "\n    low: " << r.low << "\n"
    << "    ls_watermark: " << r.watermark << "\n    window: 30ms\n    hold: " << r.hold << "\n";
  return c.str();
}

class NetLimit : public ::testing::Test {
 protected:
  void SetUp() override {
    COLO_REQUIRE_ROOT();
    cg_ = std::make_unique<TestCgroups>();
    cg_->create("box");
    cg_->create("ls");
    ASSERT_TRUE(ns_.ok());
  }
  // A process in the namespace and in `rel` (v2), its stdout to `out`.
  std::unique_ptr<Child> spawn(const std::string& rel, std::vector<std::string> args,
                               const std::string& out = "") {
    args.insert(args.begin(), load_binary());
    return Child::spawn(in_ns(ns_, args), {cg_->v2_dir(rel) + "/cgroup.procs"}, out);
  }
  std::unique_ptr<Child> sink(int port, double seconds, const std::string& out) {
    std::vector<std::string> a = {load_binary(), "tcp-sink", std::to_string(port),
                                  std::to_string(seconds)};
    return Child::spawn(in_ns(ns_, a), {}, out);
  }
  std::unique_ptr<TestCgroups> cg_;
  NetNs ns_;
  TempDir tmp_{"colo-net-test"};
};

// BE is held to the box's rate (±10%) while a paced LS sender next to it
// gets its full rate; LS packets bypass colo's classes (HTB direct queue).
TEST_F(NetLimit, BeHeldToItsRateLsUnaffected) {
  Rates r;
  r.watermark = "10gbit";  // no dynamic switch in this test
  AgentProcess agent(limit_config(*cg_, r), {}, ns_.exec_prefix());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  sleep_ms(100);  // the class map is filled at the first collection
  EXPECT_EQ(metric(agent.scrape(), "colo_bigbox_egress_limit_bytes_per_second",
                   {{"interface", "lo"}}),
            20 * kMB);
  std::string qd = tc(ns_, {"qdisc", "show", "dev", "lo"});
  ASSERT_NE(qd.find("htb c01: root"), std::string::npos) << qd;

  const double ls_rate = 40 * kMB;
  auto be_sink = sink(7001, 4.0, tmp_.path() + "/be");
  auto ls_sink = sink(7002, 4.0, tmp_.path() + "/ls");
  auto be = spawn("box", {"tcp-send", "7001", "3.5"});
  auto ls = spawn("ls", {"tcp-send", "7002", "3.5", std::to_string(ls_rate)});
  ASSERT_TRUE(be_sink && ls_sink && be && ls);
  ASSERT_TRUE(be_sink->wait(15000) && ls_sink->wait(15000));
  be->wait(5000);
  ls->wait(5000);
  auto bs = Series::load(tmp_.path() + "/be"), lss = Series::load(tmp_.path() + "/ls");
  double t0 = bs.first_byte();
  ASSERT_GT(t0, 0) << "BE sent nothing";
  double be_rate = bs.rate(t0 + 0.5, t0 + 3.0), ls_got = lss.rate(t0 + 0.5, t0 + 3.0);
  EXPECT_NEAR(be_rate, 20 * kMB, 2 * kMB) << "BE not held to its rate";
  EXPECT_NEAR(ls_got, ls_rate, 0.1 * ls_rate) << "LS did not get its rate";

  // LS went through the direct queue; BE through c01:2.
  std::string stats = tc(ns_, {"-s", "class", "show", "dev", "lo"});
  EXPECT_NE(stats.find("class htb c01:2 parent c01:1"), std::string::npos) << stats;
  qd = tc(ns_, {"-s", "qdisc", "show", "dev", "lo"});
  auto d = qd.find("direct_packets_stat ");
  ASSERT_NE(d, std::string::npos) << qd;
  EXPECT_GT(std::atoll(qd.c_str() + d + 20), 1000) << "LS packets should pass direct: " << qd;
  auto s = agent.scrape();
  EXPECT_EQ(metric(s, "colo_cgroup_network_transmit_dropped_packets_total",
                   {{"cgroup", cg_->v2_rel("box")}, {"interface", "lo"}}),
            0)
      << "TCP is backpressured by the queue, not dropped";
  // The exposition with colo's egress families in it stays valid.
  std::string metrics_file = tmp_.path() + "/metrics.txt";
  std::ofstream(metrics_file) << agent.get("/metrics").value_or("");
  std::string lint;
  EXPECT_EQ(run_cmd({"sh", "-c", "promtool check metrics < " + metrics_file}, &lint), 0) << lint;
  EXPECT_EQ(agent.stop(), 0);
}

// LS rising above the watermark drops BE to the low bound within 100 ms;
// once LS is quiet for `hold`, BE gets the high bound back.
TEST_F(NetLimit, BeFallsWhenLsRisesAndComesBack) {
  Rates r;
  AgentProcess agent(limit_config(*cg_, r), {}, ns_.exec_prefix());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  sleep_ms(100);
  auto be_sink = sink(7003, 5.5, tmp_.path() + "/be");
  auto ls_sink = sink(7004, 5.5, tmp_.path() + "/ls");
  auto be = spawn("box", {"tcp-send", "7003", "5"});
  ASSERT_TRUE(be_sink && ls_sink && be);
  sleep_ms(1500);
  auto ls = spawn("ls", {"tcp-send", "7004", "1.5", std::to_string(30 * kMB)});
  ASSERT_TRUE(ls);
  ASSERT_TRUE(be_sink->wait(15000) && ls_sink->wait(15000));
  auto bs = Series::load(tmp_.path() + "/be"), lss = Series::load(tmp_.path() + "/ls");
  double t0 = bs.first_byte(), ls0 = lss.first_byte(), ls1 = lss.last_byte();
  ASSERT_GT(t0, 0);
  ASSERT_GT(ls0, t0 + 0.8) << "LS started too early to measure BE alone";
  ASSERT_GT(ls1, ls0 + 1.0);
  EXPECT_NEAR(bs.rate(t0 + 0.3, ls0 - 0.05), 20 * kMB, 2 * kMB) << "before LS";
  EXPECT_NEAR(bs.rate(ls0 + 0.2, ls1 - 0.05), 4 * kMB, 0.4 * kMB) << "while LS is busy";
  EXPECT_NEAR(lss.rate(ls0 + 0.2, ls1 - 0.05), 30 * kMB, 3 * kMB) << "LS not shaped";
  // Reaction: the first 50 ms window after LS starts in which BE sent at most
  // the low bound plus 50% (queued bytes drain at the low rate already).
  double fell = 0;
  for (double t = ls0; t < ls0 + 0.5; t += 0.01)
    if (bs.rate(t, t + 0.05) <= 6 * kMB) {
      fell = t;
      break;
    }
  ASSERT_GT(fell, 0) << "BE never fell";
  std::cout << "BE fell " << (fell - ls0) * 1e3 << " ms after LS traffic started\n";
  EXPECT_LE(fell - ls0, 0.1);
  // After LS: hold (300 ms) + window, then high again.
  EXPECT_NEAR(bs.rate(ls1 + 0.6, t0 + 4.9), 20 * kMB, 2 * kMB) << "after LS";
  std::string st;
  run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &st);
  EXPECT_NE(st.find("above the watermark"), std::string::npos) << st;
  EXPECT_EQ(agent.stop(), 0);
}

// A BE cgroup with a ceiling of its own is held to it while the rest of the
// box gets what is left of the box's rate.
TEST_F(NetLimit, BeCgroupHeldToItsOwnCeiling) {
  cg_->create("box/job");
  Rates r;
  r.watermark = "10gbit";
  std::string cfg = limit_config(*cg_, r) + "    cgroups:\n      " + cg_->v2_rel("box/job") +
                    ": 5mbps\n";
  AgentProcess agent(cfg, {}, ns_.exec_prefix());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  sleep_ms(100);
  auto job_sink = sink(7005, 4.0, tmp_.path() + "/job");
  auto rest_sink = sink(7006, 4.0, tmp_.path() + "/rest");
  auto job = spawn("box/job", {"tcp-send", "7005", "3.5"});
  auto rest = spawn("box", {"tcp-send", "7006", "3.5"});
  ASSERT_TRUE(job_sink && rest_sink && job && rest);
  ASSERT_TRUE(job_sink->wait(15000) && rest_sink->wait(15000));
  auto js = Series::load(tmp_.path() + "/job"), rs = Series::load(tmp_.path() + "/rest");
  double t0 = std::max(js.first_byte(), rs.first_byte());
  ASSERT_GT(js.first_byte(), 0);
  ASSERT_GT(rs.first_byte(), 0);
  double jr = js.rate(t0 + 0.5, t0 + 3.0), rr = rs.rate(t0 + 0.5, t0 + 3.0);
  EXPECT_NEAR(jr, 5 * kMB, 0.5 * kMB) << "the job's own ceiling";
  EXPECT_NEAR(jr + rr, 20 * kMB, 2 * kMB) << "the box as a whole";
  std::string stats = tc(ns_, {"class", "show", "dev", "lo"});
  EXPECT_NE(stats.find("class htb c01:10 parent c01:1"), std::string::npos) << stats;
  EXPECT_EQ(agent.stop(), 0);
}

// A root qdisc someone else configured is not replaced: colo says so and
// keeps counting.
TEST_F(NetLimit, ForeignRootQdiscLeftAlone) {
  ASSERT_EQ(run_cmd(in_ns(ns_, {"tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:",
                                "pfifo", "limit", "500"})),
            0);
  AgentProcess agent(limit_config(*cg_, Rates{}), {}, ns_.exec_prefix());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  std::string qd = tc(ns_, {"qdisc", "show", "dev", "lo"});
  EXPECT_NE(qd.find("pfifo 1: root"), std::string::npos) << qd;
  EXPECT_EQ(qd.find("htb"), std::string::npos) << qd;
  EXPECT_NE(agent.log().find("root qdisc (pfifo 1:) was not created by colo"), std::string::npos)
      << agent.log();
  EXPECT_FALSE(metric(agent.scrape(), "colo_bigbox_egress_limit_bytes_per_second"));
  auto p = spawn("box", {"udp", "5601", "100", "500"});
  ASSERT_TRUE(p && p->wait(10000));
  sleep_ms(100);
  EXPECT_GE(metric(agent.scrape(), "colo_cgroup_network_transmit_packets_total",
                   {{"cgroup", cg_->v2_rel("box")}, {"interface", "lo"}})
                .value_or(0),
            100)
      << "accounting goes on";
  EXPECT_EQ(agent.stop(), 0);
  qd = tc(ns_, {"qdisc", "show", "dev", "lo"});
  EXPECT_NE(qd.find("pfifo 1: root"), std::string::npos) << "removed on exit: " << qd;
}

// colo disable removes colo's HTB and filter, colo enable puts them back,
// exit removes them: lo is as it was.
TEST_F(NetLimit, DetachOnDisableAndExit) {
  std::string before = tc(ns_, {"qdisc", "show", "dev", "lo"});
  AgentProcess agent(limit_config(*cg_, Rates{}), {}, ns_.exec_prefix());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto attached = [&] {
    std::string q = tc(ns_, {"qdisc", "show", "dev", "lo"});
    std::string f = tc(ns_, {"filter", "show", "dev", "lo", "egress"});
    bool htb = q.find("htb c01:") != std::string::npos;
    bool filt = f.find("colo_egress") != std::string::npos;
    EXPECT_EQ(htb, filt) << q << f;
    return htb && filt && q.find("clsact") != std::string::npos;
  };
  EXPECT_TRUE(attached());
  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--socket", agent.socket_path()}, &out), 0) << out;
  EXPECT_FALSE(attached());
  EXPECT_EQ(tc(ns_, {"qdisc", "show", "dev", "lo"}), before);
  EXPECT_FALSE(metric(agent.scrape(), "colo_bigbox_egress_limit_bytes_per_second"));
  ASSERT_EQ(run_cmd({COLO_BINARY, "enable", "--socket", agent.socket_path()}, &out), 0) << out;
  EXPECT_TRUE(attached());
  EXPECT_EQ(metric(agent.scrape(), "colo_bigbox_egress_limit_bytes_per_second",
                   {{"interface", "lo"}}),
            20 * kMB);
  EXPECT_EQ(agent.stop(), 0);
  EXPECT_EQ(tc(ns_, {"qdisc", "show", "dev", "lo"}), before);
  EXPECT_EQ(tc(ns_, {"filter", "show", "dev", "lo", "egress"}), "");
}

}  // namespace
}  // namespace colo::test
