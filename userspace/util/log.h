// One logging facility for colo, libbpf's output included.
#pragma once
#include <cstdarg>
#include <string>

namespace colo {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "debug|info|warn|error"; false if unknown.
bool parse_log_level(const std::string& s, LogLevel* out);
void log_printf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vprintf(LogLevel level, const char* fmt, va_list ap);
// Logs only the first time `key` is seen (for conditions that would repeat per event).
bool log_once_key(const std::string& key);

}  // namespace colo

#define COLO_LOG(level, ...)                                         \
  do {                                                               \
    if ((level) >= ::colo::log_level()) ::colo::log_printf((level), __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) COLO_LOG(::colo::LogLevel::Debug, __VA_ARGS__)
#define LOG_INFO(...) COLO_LOG(::colo::LogLevel::Info, __VA_ARGS__)
#define LOG_WARN(...) COLO_LOG(::colo::LogLevel::Warn, __VA_ARGS__)
#define LOG_ERROR(...) COLO_LOG(::colo::LogLevel::Error, __VA_ARGS__)
// Warn once per key for the life of the process.
#define LOG_WARN_ONCE(key, ...)                                      \
  do {                                                               \
    if (::colo::log_once_key(key)) LOG_WARN(__VA_ARGS__);            \
  } while (0)
