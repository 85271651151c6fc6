#include "agent/top.h"

#include <gtest/gtest.h>

#include <sstream>

namespace colo {
namespace {

using nlohmann::json;

size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

json top_fixture() {
  json ls = {{"cgroup", "/svc/web"},
             {"class", "ls"},
             {"runqueue_events", 120},
             {"runqueue_p50_seconds", 0.00002},
             {"runqueue_p99_seconds", 0.0042},
             {"runqueue_octaves_us", {0, 3, 10, 40, 20, 5, 1, 0, 0, 0, 0, 0, 1}},
             {"preemptions", {{"ls", 1}, {"be", 2}, {"system", 0}}},
             {"smt_interference_seconds", {{"be", 0.0}, {"system", 0.0}}},
             {"memory_reclaim_stall_seconds", 0.0},
             {"pressure_cpu", nullptr},
             {"transmit_bytes", 1000}};
  json be = ls;
  be["cgroup"] = "/colo.slice/bigbox";
  be["class"] = "be";
  be["runqueue_p99_seconds"] = 0.03;
  return {{"window_seconds", 1.0}, {"bpf_active", true}, {"attach_mode", "tp_btf"},
          {"cgroups", {ls, be}}};
}

json status_fixture() {
  return {{"version", "0.1"},
          {"revision", "abc"},
          {"ready", true},
          {"bpf", {{"status", "attached"}, {"attach_mode", "tp_btf"}, {"pin_dir", "/sys/fs/bpf/colo"}}},
          {"control",
           {{"enabled", true},
            {"bigbox",
             {{"path", "/colo.slice/bigbox"},
              {"cpu_quota_cores", 0.8},
              {"cpuset", "0-1"},
              {"memory_limit_bytes", 268435456},
              {"tasks", 3}}},
            {"colocatable",
             {{"cpu_cores", 1.0},
              {"memory_bytes", 268435456},
              {"mode", "dynamic"},
              {"window", "night"},
              {"phase", "open"},
              {"level", 1.0},
              {"reason", "LS uses 0.4 cores"}}},
            {"fast_path", {{"armed", false}, {"samples", 12}}},
            {"decisions",
             {{{"what", "grow box to 0.80 cores"}, {"reason", "LS healthy for 2s"}, {"time_unix_ms", 1000}},
              {{"what", "evict BE task 42"}, {"reason", "memory 93% > 90%"}, {"time_unix_ms", 2000}}}}}},
          {"evictions",
           {{"totals", {{"memory", 1}, {"ls_latency", 0}}},
            {"recent", {{{"what", "evict BE task 42"}, {"reason", "memory 93% > 90%"}, {"time_unix_ms", 2000}}}}}},
          {"urgent_events_total", 7}};
}

TEST(Top, SparklineScalesAndKeepsTheLastValues) {
  EXPECT_EQ(sparkline({0, 1, 2}, 2, 10), "▁▅█");
  EXPECT_EQ(sparkline({0, 1, 2, 2}, 2, 2), "██") << "only the newest `width` values";
  EXPECT_EQ(sparkline({-1, 5}, 2, 10), " █") << "unknown blank, over max clamped";
  EXPECT_EQ(sparkline({1, 1}, 0, 10), "  ");
}

TEST(Top, ClipCountsColumnsNotBytes) {
  EXPECT_EQ(clip_columns("ab▁▂cd", 4), "ab▁▂");
  EXPECT_EQ(clip_columns("abc", 10), "abc");
  EXPECT_EQ(clip_columns("…xyz", 1), "…");
}

TEST(Top, FormatBytes) {
  EXPECT_EQ(format_bytes(268435456), "256Mi");
  EXPECT_EQ(format_bytes(1.5 * (1ull << 30)), "1.5Gi");
  EXPECT_EQ(format_bytes(512), "512B");
}

TEST(Top, ScreenFitsTheTerminalAndPutsLsFirst) {
  TopHistory h;
  auto st = status_fixture();
  for (double q : {0.2, 0.4, 0.6, 0.8}) {
    st["control"]["bigbox"]["cpu_quota_cores"] = q;
    h.add(st);
  }
  for (int width : {60, 100, 200}) {
    std::string screen = render_top_screen(top_fixture(), st, h, width, 8, 1.0, "");
    auto ls = lines(screen);
    ASSERT_LE(ls.size(), 8u);
    for (auto& l : ls) {
      // Every line ends with "erase to end of line" and CR.
      ASSERT_GE(l.size(), 4u);
      EXPECT_EQ(l.substr(l.size() - 4), "\x1b[K\r");
      EXPECT_LE(columns(l.substr(0, l.size() - 4)), static_cast<size_t>(width)) << l;
    }
  }
  std::string screen = render_top_screen(top_fixture(), st, h, 220, 40, 0.5, "");
  EXPECT_NE(screen.find("colo top"), std::string::npos);
  EXPECT_NE(screen.find("refresh 0.5s"), std::string::npos);
  EXPECT_NE(screen.find("quota 0.80 / colocatable 1.00 cores"), std::string::npos) << screen;
  EXPECT_NE(screen.find("policy dynamic (night)"), std::string::npos) << screen;
  EXPECT_NE(screen.find("allowance ▂▄▅▇"), std::string::npos) << screen;
  EXPECT_LT(screen.find("\n/svc/web "), screen.find("\n/colo.slice/bigbox ")) << "the JSON's order";
}

TEST(Top, ScreenWithoutBoxOrAgent) {
  TopHistory h;
  std::string screen = render_top_screen(top_fixture(), json(), h, 120, 20, 1, "");
  EXPECT_NE(screen.find("not managed"), std::string::npos);
  EXPECT_NE(screen.find("/svc/web"), std::string::npos);
  screen = render_top_screen(json(), json(), h, 120, 20, 1, "cannot reach the colo agent");
  EXPECT_NE(screen.find("agent unreachable: cannot reach the colo agent"), std::string::npos);
}

TEST(Top, StatusShowsBoxPolicyDecisionsAndEvictions) {
  std::string s = render_status(status_fixture());
  EXPECT_NE(s.find("colocation: enabled"), std::string::npos) << s;
  EXPECT_NE(s.find("big box: /colo.slice/bigbox: CPU quota 0.80 cores, cpuset 0-1, memory limit "
                   "256Mi, 3 tasks"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("colocatable: 1.00 cores, 256Mi memory"), std::string::npos) << s;
  EXPECT_NE(s.find("policy: mode dynamic, window night, phase open, level 1.00"), std::string::npos)
      << s;
  EXPECT_NE(s.find("why: LS uses 0.4 cores"), std::string::npos) << s;
  EXPECT_NE(s.find("evictions: 1 (memory 1)"), std::string::npos) << s;
  EXPECT_NE(s.find("evict BE task 42: memory 93% > 90%"), std::string::npos) << s;
  EXPECT_NE(s.find("grow box to 0.80 cores: LS healthy for 2s"), std::string::npos) << s;
  EXPECT_NE(s.find("urgent events: 7"), std::string::npos) << s;
  EXPECT_NE(s.find("fast path: asleep (BE runs nothing)"), std::string::npos) << s;

  auto off = status_fixture();
  off["control"]["enabled"] = false;
  EXPECT_NE(render_status(off).find("DISABLED"), std::string::npos);
  auto observe = status_fixture();
  observe.erase("control");
  observe["cgroup"] = {{"bigbox", "/b"}};
  EXPECT_NE(render_status(observe).find("big box: /b (not managed: observe only)"),
            std::string::npos);
}

}  // namespace
}  // namespace colo
