// The colo binary on bad input: unknown flags and subcommands, missing and bad
// values, and commands against an agent that is not running. Each must exit
// non-zero with a message naming the problem, and never start anything.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/privileged.h"
#include "support/temp_dir.h"

namespace colo {
namespace {

using test::run_cmd;
using test::TempDir;

struct Result {
  int code;
  std::string out;  // stdout and stderr
};

Result colo(std::vector<std::string> args) {
  args.insert(args.begin(), COLO_BINARY);
  Result r;
  r.code = run_cmd(args, &r.out, 20000);
  return r;
}

#define EXPECT_FAILS_NAMING(res, ...)                                        \
  do {                                                                       \
    const Result& r_ = (res);                                                \
    EXPECT_NE(r_.code, 0) << r_.out;                                         \
    EXPECT_NE(r_.code, -1) << "did not exit by itself: " << r_.out;          \
    for (const char* w_ : {__VA_ARGS__})                                     \
      EXPECT_NE(r_.out.find(w_), std::string::npos) << "no '" << w_ << "' in: " << r_.out; \
  } while (0)

TEST(Cli, HelpWorks) {
  Result r = colo({"--help"});
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* c : {"agent", "validate", "status", "top", "exec", "disable", "enable", "bpf"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
}

TEST(Cli, NoSubcommand) { EXPECT_FAILS_NAMING(colo({}), "subcommand"); }

TEST(Cli, UnknownSubcommand) { EXPECT_FAILS_NAMING(colo({"frobnicate"}), "frobnicate"); }

TEST(Cli, UnknownFlags) {
  EXPECT_FAILS_NAMING(colo({"--no-such-flag"}), "--no-such-flag");
  EXPECT_FAILS_NAMING(colo({"status", "--bogus"}), "--bogus");
  EXPECT_FAILS_NAMING(colo({"top", "--once", "--colour"}), "--colour");
  EXPECT_FAILS_NAMING(colo({"disable", "--evict-all"}), "--evict-all");
  EXPECT_FAILS_NAMING(colo({"agent", "--dryrun"}), "--dryrun");
}

TEST(Cli, MissingValues) {
  EXPECT_FAILS_NAMING(colo({"status", "--socket"}), "--socket");
  EXPECT_FAILS_NAMING(colo({"top", "-o"}), "--output");
  EXPECT_FAILS_NAMING(colo({"agent", "--config"}), "--config");
  EXPECT_FAILS_NAMING(colo({"agent", "--metrics-addr"}), "--metrics-addr");
  EXPECT_FAILS_NAMING(colo({"validate"}), "FILE");
  EXPECT_FAILS_NAMING(colo({"exec"}), "CMD");
  EXPECT_FAILS_NAMING(colo({"config"}), "subcommand");
  EXPECT_FAILS_NAMING(colo({"bpf"}), "subcommand");
}

TEST(Cli, BadValues) {
  EXPECT_FAILS_NAMING(colo({"status", "-o", "yaml"}), "yaml");
  EXPECT_FAILS_NAMING(colo({"top", "--interval", "abc"}), "--interval", "abc");
  EXPECT_FAILS_NAMING(colo({"top", "--interval", "0"}), "--interval");
  EXPECT_FAILS_NAMING(colo({"--log-level", "loud", "status"}), "loud");
  EXPECT_FAILS_NAMING(colo({"exec", "--class", "ls", "--", "true"}), "ls");
  EXPECT_FAILS_NAMING(colo({"validate", "/nonexistent/colo.yaml"}), "/nonexistent/colo.yaml");
  EXPECT_FAILS_NAMING(colo({"agent", "--config", "/nonexistent/colo.yaml"}),
                      "/nonexistent/colo.yaml");
  // Refused when parsing the command line, before anything is set up (it used
  // to reach the HTTP bind as port 0, i.e. any free port).
  for (const char* addr : {"nonsense", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", ":80",
                           "127.0.0.1:http"})
    EXPECT_FAILS_NAMING(colo({"agent", "--metrics-addr", addr, "--socket", "/nonexistent/s",
                              "--bpf-pin-dir", "/nonexistent/pins"}),
                        "--metrics-addr", addr);
}

TEST(Cli, InvalidConfigFile) {
  TempDir tmp{"colo-cli"};
  std::string f = tmp.put("bad.yaml", "agent:\n  metrics_addr: nowhere\npolicy:\n  mode: maybe\n");
  Result r = colo({"validate", f});
  EXPECT_FAILS_NAMING(r, "bad.yaml:2:", "agent.metrics_addr", "bad.yaml:4:", "policy.mode");
  EXPECT_EQ(r.code, 1);
  // The agent refuses it too, before touching anything.
  EXPECT_FAILS_NAMING(colo({"agent", "--config", f, "--socket", tmp.path() + "/s",
                            "--bpf-pin-dir", tmp.path() + "/pins"}),
                      "agent.metrics_addr", "policy.mode");
  EXPECT_FALSE(access((tmp.path() + "/s").c_str(), F_OK) == 0) << "no socket was created";
}

// Commands that talk to the agent, when there is none: a path with nothing at
// it, a socket file left by a crashed agent (bound, nobody listening), and a
// regular file.
TEST(Cli, CommandsAgainstAStoppedAgent) {
  TempDir tmp{"colo-cli"};
  std::string stale = tmp.path() + "/stale.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", stale.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  close(fd);  // the file stays, nobody listens
  std::string plain = tmp.put("plain.sock", "not a socket");
  for (const std::string& sock : {tmp.path() + "/none.sock", stale, plain}) {
    for (std::vector<std::string> cmd :
         {std::vector<std::string>{"status"}, {"status", "-o", "json"}, {"top", "--once"},
          {"top", "-o", "json"}, {"top"}, {"disable"}, {"disable", "--evict"}, {"enable"}}) {
      std::string what = cmd[0];
      cmd.push_back("--socket");
      cmd.push_back(sock);
      Result r = colo(cmd);
      SCOPED_TRACE(what + " " + sock);
      const std::string prefix = "colo " + what + ":";
      EXPECT_FAILS_NAMING(r, prefix.c_str(), "cannot reach the colo agent", sock.c_str(),
                          "is `colo agent` running?");
      EXPECT_EQ(r.code, 1);
    }
  }
  std::string too_long = tmp.path() + "/" + std::string(120, 'x');
  EXPECT_FAILS_NAMING(colo({"status", "--socket", too_long}), "socket path too long");
}

}  // namespace
}  // namespace colo
