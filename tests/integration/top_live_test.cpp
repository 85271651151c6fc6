// `colo top` as a person uses it: in a terminal (tmux, on a private server
// socket), against the real agent with LS and BE load in test cgroups. The
// full-screen view refreshes, puts LS pain first, draws histogram bars and the
// box's allowance sparkline, and quits on q with the terminal restored.
// `--once`, `-o json` and `colo status` are checked on the same agent.
#include <gtest/gtest.h>

#include <unistd.h>

#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/privileged.h"
#include "userspace/util/fs.h"

namespace colo::test {
namespace {

// A tmux server of its own (-L), killed on destruction: nothing else is touched.
class Tmux {
 public:
  Tmux() : server_(unique_name("colo-tmux")) {}
  ~Tmux() { run({"kill-server"}); }
  int run(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> argv = {"env", "LC_ALL=C.UTF-8", "tmux", "-u", "-L", server_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string o;
    int rc = run_cmd(argv, &o, 10000);
    if (out) *out = o;
    return rc;
  }
  std::string capture() {
    std::string o;
    run({"capture-pane", "-p", "-t", "top"}, &o);
    return o;
  }
  // Polls the screen until pred(screen) or timeout; the last screen.
  template <typename Pred>
  std::string wait_screen(Pred pred, int timeout_ms) {
    std::string s;
    for (int t = 0; t < timeout_ms; t += 100) {
      s = capture();
      if (pred(s)) break;
      sleep_ms(100);
    }
    return s;
  }

 private:
  std::string server_;
};

std::string line_with(const std::string& screen, const std::string& what) {
  std::istringstream in(screen);
  for (std::string l; std::getline(in, l);)
    if (l.find(what) != std::string::npos) return l;
  return "";
}

// The first line that starts with `what`.
size_t line_no(const std::string& screen, const std::string& what) {
  std::istringstream in(screen);
  size_t n = 0;
  for (std::string l; std::getline(in, l); n++)
    if (l.rfind(what, 0) == 0) return n;
  return std::string::npos;
}

bool has_block(const std::string& s) {
  for (const char* b : {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"})
    if (s.find(b) != std::string::npos) return true;
  return false;
}

TEST(TopLive, FullScreenViewRefreshesAndQuitsOnQ) {
  COLO_REQUIRE_ROOT();
  ASSERT_EQ(run_cmd({"sh", "-c", "command -v tmux"}), 0) << "tmux is needed";
  TestCgroups cg;
  cg.create("box");
  cg.create("ls");
  std::ostringstream c;
  c << "agent:\n  collect_interval: 200ms\n"
    << "cgroup:\n  bigbox: " << cg.cpu_rel("box") << "\n  bigbox_create: false\n"
    << "  bigbox_paths:\n    memory: " << cg.mem_rel("box") << "\n"
    << "network:\n  interfaces: []\n"
    << "policy:\n  mode: static\n  static:\n    cpu_cores: 1.0\n    memory: 256Mi\n"
    << "controller:\n  tick: 100ms\n  hold: 200ms\n  step: 0.2\n  floor: 0.2\n"
    << "eviction:\n  enabled: false\n";
  AgentProcess agent(c.str());
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto be = Child::spawn({load_binary(), "hog", "60"}, cg.procs_files("box"));
  auto ls = Child::spawn({load_binary(), "waker", "1000", "200", "60"}, cg.procs_files("ls"));
  ASSERT_TRUE(be && ls);
  sleep_ms(800);

  Tmux tmux;
  // The exit status goes to a file (tmux's own pane_dead_status is racy).
  std::string status_file = "/tmp/" + unique_name("colo-top-exit");
  struct Unlink {
    std::string path;
    ~Unlink() { unlink(path.c_str()); }
  } remove_status{status_file};
  std::string cmd = std::string(COLO_BINARY) + " top --socket " + agent.socket_path() +
                    " --interval 0.3; echo $? > " + status_file;
  ASSERT_EQ(tmux.run({"new-session", "-d", "-s", "top", "-x", "220", "-y", "45", cmd}), 0);
  tmux.run({"set-option", "-t", "top", "remain-on-exit", "on"});

  std::string ls_rel = cg.cpu_rel("ls"), box_rel = cg.cpu_rel("box");
  std::string screen = tmux.wait_screen(
      [&](const std::string& s) {
        return line_no(s, "colo top") == 0 && line_no(s, ls_rel + " ") != std::string::npos &&
               line_no(s, box_rel + " ") != std::string::npos;
      },
      10000);
  std::cout << "--- colo top in tmux ---\n" << screen << "---\n";
  ASSERT_NE(screen.find("colo top"), std::string::npos) << screen;
  ASSERT_NE(line_no(screen, ls_rel + " "), std::string::npos) << screen;
  // LS pain first: the LS cgroup's row is above the big box's.
  EXPECT_LT(line_no(screen, ls_rel + " "), line_no(screen, box_rel + " ")) << screen;
  EXPECT_NE(line_with(screen, ls_rel + " ").find(" ls "), std::string::npos);
  EXPECT_TRUE(has_block(line_with(screen, ls_rel + " "))) << "a histogram bar on the LS row";
  // The box line and its allowance sparkline.
  EXPECT_NE(line_with(screen, "box " + box_rel + " ").find("colocatable 1.00"), std::string::npos)
      << screen;
  EXPECT_NE(line_with(screen, "policy static").size(), 0u) << screen;
  // The sparkline grows by one sample per refresh.
  auto spark_len = [](const std::string& s) {
    std::string l = line_with(s, "allowance ");
    size_t n = 0;
    for (const char* b : {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"})
      for (size_t p = 0; (p = l.find(b, p)) != std::string::npos; p++) n++;
    return n;
  };
  size_t before = spark_len(screen);
  screen = tmux.wait_screen([&](const std::string& s) { return spark_len(s) >= before + 3; }, 5000);
  EXPECT_GE(spark_len(screen), before + 3) << "the view did not refresh:\n" << screen;
  EXPECT_EQ(line_no(screen, "colo top"), 0u) << "full screen: the header stays on top";

  // q quits, exit status 0, and the alternate screen is gone.
  ASSERT_EQ(tmux.run({"send-keys", "-t", "top", "q"}), 0);
  std::optional<std::string> exit_status;
  for (int i = 0; i < 50 && !exit_status; i++) {
    sleep_ms(100);
    exit_status = read_file(status_file);
  }
  ASSERT_TRUE(exit_status) << "colo top did not exit on q:\n" << tmux.capture();
  EXPECT_EQ(*exit_status, "0\n") << "colo top's exit status";
  EXPECT_EQ(tmux.capture().find("allowance"), std::string::npos)
      << "the terminal's normal screen is back";

  // Scripts: --once prints one table; -o json one document.
  std::string out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "top", "--once", "--socket", agent.socket_path()}, &out), 0);
  EXPECT_NE(out.find(ls_rel), std::string::npos) << out;
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << "no escape codes when not a terminal";
  ASSERT_EQ(run_cmd({COLO_BINARY, "top", "-o", "json", "--socket", agent.socket_path()}, &out), 0);
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_TRUE(j["cgroups"].is_array() && !j["cgroups"].empty());
  EXPECT_EQ(j["cgroups"][0]["class"], "ls") << "LS pain first";

  // colo status: the box, colocatable amounts, policy and window, decisions, evictions.
  // The one switch, off and on: two decisions with their reasons for certain
  // (the box's own growth and cuts depend on the machine's load).
  ASSERT_EQ(run_cmd({COLO_BINARY, "disable", "--socket", agent.socket_path()}, &out), 0) << out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "enable", "--socket", agent.socket_path()}, &out), 0) << out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "--socket", agent.socket_path()}, &out), 0);
  std::cout << "--- colo status ---\n" << out << "---\n";
  EXPECT_NE(out.find("big box: " + box_rel), std::string::npos) << out;
  EXPECT_NE(out.find("colocatable: 1.00 cores, 256Mi memory"), std::string::npos) << out;
  EXPECT_NE(out.find("policy: mode static, window none"), std::string::npos) << out;
  EXPECT_NE(out.find("evictions: 0"), std::string::npos) << out;
  EXPECT_NE(out.find("last decisions"), std::string::npos) << out;
  EXPECT_NE(out.find("colocation disabled: "), std::string::npos) << out;
  EXPECT_NE(out.find("colocation enabled: "), std::string::npos) << out;
  ASSERT_EQ(run_cmd({COLO_BINARY, "status", "-o", "json", "--socket", agent.socket_path()}, &out),
            0);
  j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_TRUE(j["evictions"]["totals"].contains("memory")) << out;
  EXPECT_TRUE(j["evictions"]["recent"].is_array());
  EXPECT_EQ(j["control"]["colocatable"]["mode"], "static");
  ASSERT_FALSE(j["control"]["decisions"].empty());
  EXPECT_TRUE(j["control"]["decisions"].back().contains("reason"));
  EXPECT_TRUE(j["control"]["decisions"].back().contains("time_unix_ms"));
}

}  // namespace
}  // namespace colo::test
