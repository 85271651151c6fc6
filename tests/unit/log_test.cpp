#include "userspace/util/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <thread>
#include <vector>

#include "support/stderr_capture.h"
#include "userspace/util/fs.h"

namespace colo {
namespace {

using test::StderrCapture;

// Once-keys live for the whole process: fresh ones for every run of a test.
std::string fresh_key_prefix() {
  static std::atomic<int> runs{0};
  return "log_test." + std::to_string(runs++) + ".";
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = log_level(); }
  void TearDown() override { set_log_level(saved_); }
  LogLevel saved_;
};

TEST_F(LogTest, DefaultLevelIsInfo) { EXPECT_EQ(saved_, LogLevel::Info); }

TEST_F(LogTest, ParsesLevelNames) {
  const std::pair<const char*, LogLevel> good[] = {{"debug", LogLevel::Debug},
                                                   {"info", LogLevel::Info},
                                                   {"warn", LogLevel::Warn},
                                                   {"error", LogLevel::Error},
                                                   {"WARN", LogLevel::Warn}};
  for (auto [name, want] : good) {
    LogLevel got = LogLevel::Debug;
    EXPECT_TRUE(parse_log_level(name, &got)) << name;
    EXPECT_EQ(got, want) << name;
  }
  for (const char* bad : {"", "warning", "inf", "info ", "trace"}) {
    LogLevel got = LogLevel::Error;
    EXPECT_FALSE(parse_log_level(bad, &got)) << bad;
    EXPECT_EQ(got, LogLevel::Error) << "output touched for " << bad;
  }
}

TEST_F(LogTest, LineHasUtcMillisecondTimestampAndLevel) {
  // A non-UTC zone proves the stamp is UTC, not local time.
  const char* old_tz = getenv("TZ");
  std::string saved_tz = old_tz ? old_tz : "";
  setenv("TZ", "EST5EDT", 1);
  tzset();
  // The clock the logger reads: time() may lag it by a tick across a second
  // boundary (it reads the coarse clock).
  auto realtime_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
  };
  time_t before = realtime_s();
  StderrCapture cap;
  LOG_INFO("hello %d %s", 42, "world");
  std::string out = cap.text();
  time_t after = realtime_s();
  if (old_tz) {
    setenv("TZ", saved_tz.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();

  std::smatch m;
  const std::regex line(
      R"((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{3}Z INFO hello 42 world\n)");
  ASSERT_TRUE(std::regex_match(out, m, line)) << out;
  struct tm tm = {};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  time_t stamped = timegm(&tm);
  EXPECT_GE(stamped, before);
  EXPECT_LE(stamped, after);
}

TEST_F(LogTest, LevelsBelowThresholdAreDropped) {
  set_log_level(LogLevel::Warn);
  StderrCapture cap;
  LOG_DEBUG("d");
  LOG_INFO("i");
  log_printf(LogLevel::Info, "direct");  // libbpf's path, without the macro's check
  LOG_WARN("w");
  LOG_ERROR("e");
  std::string out = cap.text();
  EXPECT_EQ(out.find(" DEBUG "), std::string::npos) << out;
  EXPECT_EQ(out.find(" INFO "), std::string::npos) << out;
  EXPECT_NE(out.find(" WARN w\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" ERROR e\n"), std::string::npos) << out;
}

TEST_F(LogTest, MessageEndingInNewlineGetsOneNewline) {
  StderrCapture cap;
  log_printf(LogLevel::Error, "libbpf: failed\n");
  std::string out = cap.text();
  EXPECT_EQ(out.substr(out.size() - 16), " libbpf: failed\n") << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_F(LogTest, LongMessageIsNotTruncated) {
  std::string big(10000, 'x');
  StderrCapture cap;
  LOG_INFO("%s!", big.c_str());
  std::string out = cap.text();
  EXPECT_NE(out.find(big + "!\n"), std::string::npos);
}

TEST_F(LogTest, WarnOnceWarnsOncePerKey) {
  const std::string prefix = fresh_key_prefix();
  StderrCapture cap;
  for (int i = 0; i < 3; i++) {
    LOG_WARN_ONCE(prefix + "a", "key a %d", i);
    LOG_WARN_ONCE(prefix + "b", "key b %d", i);
  }
  std::string out = cap.text();
  EXPECT_NE(out.find("key a 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("key b 0\n"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
}

TEST_F(LogTest, OnceKeyIsThreadSafe) {
  constexpr int kThreads = 8, kKeys = 500;
  const std::string prefix = fresh_key_prefix();
  std::atomic<int> firsts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int k = 0; k < kKeys; k++)
        if (log_once_key(prefix + std::to_string(k))) firsts++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(firsts.load(), kKeys);
}

}  // namespace
}  // namespace colo
