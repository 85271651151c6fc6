// The dashboards and rules against the real thing: the real agent (its BPF
// programs attached, a test-owned big box, egress on lo in the test's own
// network namespace) and a real Prometheus scraping it every second, with LS
// and BE load in test cgroups. Every query of every panel (template variables
// substituted as Grafana would) must be accepted by Prometheus's query API and
// return data, except on panels marked as rare events; every rule must be
// accepted, evaluate without error, and the main recording rules must have data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/privileged.h"
#include "support/temp_dir.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

using nlohmann::json;

std::string url_encode(const std::string& s) {
  std::string out;
  char b[4];
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      snprintf(b, sizeof(b), "%%%02X", c);
      out += b;
    }
  }
  return out;
}

// A Prometheus server in the test's network namespace, on a temp data dir.
class Prometheus {
 public:
  Prometheus(const NetNs& ns, int agent_port, const std::string& rules_file)
      : ns_(ns), port_(free_port()) {
    std::ostringstream cfg;
    cfg << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        << "rule_files: ['" << rules_file << "']\n"
        << "scrape_configs:\n  - job_name: colo\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << agent_port << "']\n";
    std::string config = dir_.put("prometheus.yml", cfg.str());
    std::vector<std::string> argv = ns.exec_prefix();
    for (auto& a : std::vector<std::string>{
             "prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir_.path() + "/data",
             "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"})
      argv.push_back(a);
    log_ = dir_.path() + "/prometheus.log";
    child_ = Child::spawn(argv, {}, log_);
  }
  // GET an API path in the namespace; the parsed JSON or null.
  json api(const std::string& path_and_query) {
    std::vector<std::string> argv = ns_.exec_prefix();
    for (auto& a : std::vector<std::string>{
             "curl", "-s", "--max-time", "10",
             "http://127.0.0.1:" + std::to_string(port_) + path_and_query})
      argv.push_back(a);
    std::string out;
    if (run_cmd(argv, &out, 15000) != 0) return nullptr;
    auto j = json::parse(out, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
  }
  bool wait_ready(int timeout_ms) {
    for (int t = 0; t < timeout_ms; t += 200) {
      std::vector<std::string> argv = ns_.exec_prefix();
      for (auto& a : std::vector<std::string>{
               "curl", "-sf", "--max-time", "2",
               "http://127.0.0.1:" + std::to_string(port_) + "/-/ready"})
        argv.push_back(a);
      if (run_cmd(argv, nullptr, 5000) == 0) return true;
      if (!child_ || !child_->running()) return false;
      sleep_ms(200);
    }
    return false;
  }
  // Range query over the last `seconds`, step 1s.
  json query_range(const std::string& q, int seconds) {
    long now = static_cast<long>(time(nullptr));
    return api("/api/v1/query_range?query=" + url_encode(q) +
               "&start=" + std::to_string(now - seconds) + "&end=" + std::to_string(now) +
               "&step=1");
  }
  std::string log() const { return read_file(log_).value_or(""); }

 private:
  const NetNs& ns_;
  int port_;
  TempDir dir_{"colo-test-prometheus"};
  std::string log_;
  std::unique_ptr<Child> child_;  // declared last: killed before dir_ is removed
};

// Substitutes Grafana's template variables as a dashboard would with this node
// selected and "All" cgroups. Anything left starting with '$' is an error.
std::string substitute(std::string q, const std::string& instance) {
  const std::pair<const char*, std::string> vars[] = {
      {"$__rate_interval", "4s"}, {"$__range", "60s"}, {"$__interval", "1s"},
      {"$node", instance},        {"$job", "colo"},   {"$cgroup", ".*"}};
  for (auto& [k, v] : vars)
    for (size_t p; (p = q.find(k)) != std::string::npos;) q.replace(p, strlen(k), v);
  return q;
}

struct PanelQuery {
  std::string dashboard, panel, ref, expr;
  bool rare;
};

std::vector<PanelQuery> dashboard_queries() {
  std::vector<PanelQuery> out;
  for (const char* name : {"colo-node.json", "colo-fleet.json", "colo-agent.json"}) {
    auto text = read_file(std::string(COLO_SOURCE_DIR) + "/dashboards/" + name);
    EXPECT_TRUE(text) << name;
    if (!text) continue;
    json d = json::parse(*text);
    std::vector<json> panels;
    for (auto& p : d["panels"]) {
      panels.push_back(p);
      if (p.contains("panels"))
        for (auto& q : p["panels"]) panels.push_back(q);
    }
    for (auto& p : panels) {
      if (p["type"] == "row") continue;
      bool rare = p.value("description", "").find("Rare event") != std::string::npos;
      for (auto& t : p["targets"])
        out.push_back({name, p["title"], t["refId"], t["expr"], rare});
    }
  }
  return out;
}

TEST(DashboardsLive, EveryPanelQueryIsAcceptedAndReturnsData) {
  COLO_REQUIRE_ROOT();
  ASSERT_EQ(run_cmd({"sh", "-c", "command -v prometheus"}), 0)
      << "Debian's prometheus package is needed (deploy/install-deps.sh test)";
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  cg.create("tight");
  ASSERT_EQ(write_file(cg.mem_dir("tight") + "/memory.limit_in_bytes", "33554432"), 0);
  NetNs ns;
  ASSERT_TRUE(ns.ok());

  std::ostringstream cfg;
  cfg << "agent:\n  collect_interval: 250ms\n"
      << "metrics:\n  cgroup_histograms: [" << cg.cpu_rel("ls") << "]\n"
      << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n  bigbox_create: false\n"
      << "  bigbox_paths:\n    memory: " << cg.mem_rel("box") << "\n    unified: "
      << cg.v2_rel("box") << "\n"
      // Egress accounted and BE limited on lo (HTB in the test's namespace).
      << "network:\n  interfaces: [lo]\n  limit:\n    enabled: true\n"
      << "    high: 100mbit\n    low: 10mbit\n    ls_watermark: 50mbit\n"
      << "policy:\n  mode: static\n  static:\n    cpu_cores: 1.0\n    memory: 256Mi\n"
      << "controller:\n  tick: 100ms\n"
      << "eviction:\n  enabled: false\n";
  AgentProcess agent(cfg.str(), {}, ns.exec_prefix());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();

  // /metrics lints clean.
  {
    auto text = agent.get("/metrics");
    ASSERT_TRUE(text);
    TempDir t;
    std::string f = t.put("metrics.txt", *text);
    std::string lint;
    EXPECT_EQ(run_cmd({"sh", "-c", "promtool check metrics < " + f}, &lint), 0) << lint;
  }

  std::string rules = std::string(COLO_SOURCE_DIR) + "/dashboards/rules/colo-rules.yaml";
  Prometheus prom(ns, agent.port(), rules);
  ASSERT_TRUE(prom.wait_ready(30000)) << prom.log();

  // Load: BE spins in the box and sends on lo (through colo's HTB), LS wakes
  // up often, sends on lo and fills the page cache in a tight memory cgroup
  // (reclaim).
  auto be = Child::spawn({load_binary(), "hog", "60"}, cg.procs_files("box"));
  auto ls = Child::spawn({load_binary(), "waker", "2000", "300", "60"}, cg.procs_files("ls"));
  ASSERT_TRUE(be && ls);
  std::vector<std::string> udp = ns.exec_prefix();
  for (auto& a : std::vector<std::string>{load_binary(), "udp", "5556", "2000", "500"})
    udp.push_back(a);
  auto tx = Child::spawn(udp, {cg.v2_dir("ls") + "/cgroup.procs"});
  std::vector<std::string> be_udp = ns.exec_prefix();
  for (auto& a : std::vector<std::string>{load_binary(), "udp", "5557", "2000", "500"})
    be_udp.push_back(a);
  auto be_tx = Child::spawn(be_udp, cg.procs_files("box"));
  std::string pagefile = "/var/tmp/" + unique_name("colo-pagecache");
  struct Unlink {
    std::string path;
    ~Unlink() { unlink(path.c_str()); }
  } remove_pagefile{pagefile};
  auto pc = Child::spawn({load_binary(), "pagecache", pagefile, "96"}, cg.procs_files("tight"));
  ASSERT_TRUE(tx && be_tx && pc);
  ASSERT_TRUE(tx->wait(30000));
  ASSERT_TRUE(be_tx->wait(30000));
  ASSERT_TRUE(pc->wait(120000));

  // Enough scrapes for every rate over $__rate_interval (4 s).
  std::string instance = "127.0.0.1:" + std::to_string(agent.port());
  for (int i = 0; i < 60; i++) {
    auto r = prom.api("/api/v1/query?query=" +
                      url_encode("count_over_time(colo_build_info{instance=\"" + instance +
                                 "\"}[1m])"));
    if (r.is_object() && !r["data"]["result"].empty() &&
        std::stod(r["data"]["result"][0]["value"][1].get<std::string>()) >= 8)
      break;
    sleep_ms(500);
  }

  // The egress panels have something to show: the box's limit on lo (the
  // high bound: LS sends far below the watermark) and BE bytes sent from the box.
  {
    auto s = agent.scrape();
    EXPECT_EQ(metric(s, "colo_bigbox_egress_limit_bytes_per_second", {{"interface", "lo"}}),
              100e6 / 8);
    EXPECT_GE(metric(s, "colo_cgroup_network_transmit_bytes_total",
                     {{"class", "be"}, {"interface", "lo"}}).value_or(0), 2000 * 500.0);
  }

  auto queries = dashboard_queries();
  ASSERT_GT(queries.size(), 30u);
  int with_data = 0, rare_empty = 0;
  for (auto& q : queries) {
    std::string expr = substitute(q.expr, instance);
    SCOPED_TRACE(q.dashboard + " / " + q.panel + " / " + q.ref + ": " + expr);
    EXPECT_EQ(expr.find('$'), std::string::npos) << "a template variable is left";
    json r = prom.query_range(expr, 20);
    ASSERT_TRUE(r.is_object()) << "no answer from Prometheus: " << prom.log();
    EXPECT_EQ(r.value("status", ""), "success") << r.dump();
    bool data = r["data"]["result"].is_array() && !r["data"]["result"].empty();
    if (data) with_data++;
    else if (q.rare) rare_empty++;
    else ADD_FAILURE() << "no data";
  }
  std::cout << queries.size() << " dashboard queries: " << with_data << " with data, "
            << rare_empty << " rare-event queries empty\n";

  // Rules: loaded, evaluated without error, each expression accepted.
  bool all_ok = false;
  json groups;
  for (int i = 0; i < 40 && !all_ok; i++) {
    groups = prom.api("/api/v1/rules")["data"]["groups"];
    all_ok = groups.is_array() && groups.size() == 2;
    for (auto& g : groups)
      for (auto& r : g["rules"]) all_ok = all_ok && r.value("health", "") == "ok";
    if (!all_ok) sleep_ms(500);
  }
  ASSERT_TRUE(all_ok) << groups.dump(1);
  int nrules = 0;
  for (auto& g : groups)
    for (auto& r : g["rules"]) {
      nrules++;
      json res = prom.api("/api/v1/query?query=" + url_encode(r["query"].get<std::string>()));
      EXPECT_EQ(res.value("status", ""), "success") << r["query"] << " " << res.dump();
    }
  EXPECT_EQ(nrules, 11);
  for (const char* rec : {"class:colo_cgroup_runqueue_latency_seconds:p99_1m",
                          "cgroup:colo_cgroup_runqueue_latency_seconds:p99_1m",
                          "instance:colo_class_cpu_cores:rate1m", "instance:colo_evictions:increase5m",
                          "instance:colo_bpf_events_lost:rate5m"}) {
    json r = prom.query_range(rec, 20);
    EXPECT_FALSE(r["data"]["result"].empty()) << rec << " has no data: " << r.dump();
  }
  // Healthy agent: the down alert does not fire.
  json alerts = prom.api("/api/v1/alerts")["data"]["alerts"];
  for (auto& a : alerts) EXPECT_NE(a["labels"].value("alertname", ""), "ColoAgentDown") << a.dump();
  EXPECT_EQ(agent.stop(), 0);
}

}  // namespace
}  // namespace colo::test
