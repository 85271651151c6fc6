#include "userspace/util/log.h"

#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <unordered_set>

namespace colo {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "DEBUG";
    case LogLevel::Info: return "INFO";
    case LogLevel::Warn: return "WARN";
    case LogLevel::Error: return "ERROR";
  }
  return "?";
}

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool parse_log_level(const std::string& s, LogLevel* out) {
  static constexpr struct { const char* name; LogLevel level; } kNames[] = {
      {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},   {"error", LogLevel::Error}};
  for (const auto& n : kNames) {
    if (strcasecmp(s.c_str(), n.name) == 0) {
      if (out) *out = n.level;
      return true;
    }
  }
  return false;
}

void log_printf(LogLevel level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vprintf(level, fmt, ap);
  va_end(ap);
}

void log_vprintf(LogLevel level, const char* fmt, va_list ap) {
  // libbpf's print callback lands here directly, bypassing the macros' check.
  if (level < log_level()) return;

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char prefix[64];
  int plen = snprintf(prefix, sizeof(prefix), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000, level_name(level));

  va_list copy;
  va_copy(copy, ap);
  int mlen = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (mlen < 0) mlen = 0;

  std::string line(prefix, plen);
  line.resize(plen + mlen + 1);
  vsnprintf(line.data() + plen, mlen + 1, fmt, ap);
  line.resize(plen + mlen);
  // libbpf's messages end in '\n' already; every line gets exactly one.
  while (!line.empty() && line.back() == '\n') line.pop_back();
  line.push_back('\n');
  // One write(2) per line so that lines from different threads don't interleave.
  ssize_t rc = write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

bool log_once_key(const std::string& key) {
  static std::mutex mu;
  static std::unordered_set<std::string> seen;
  std::lock_guard<std::mutex> lock(mu);
  return seen.insert(key).second;
}

}  // namespace colo
