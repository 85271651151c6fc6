// Small text helpers for the human-readable reasons the policies return.
#pragma once
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace colo::policy {

__attribute__((format(printf, 1, 2))) inline std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

inline std::string gib(double bytes) { return fmt("%.2f GiB", bytes / (1024.0 * 1024 * 1024)); }

// 1h30m, 14m59s, 4.2s, 250ms: the units a reader of a decision log expects.
inline std::string human(std::chrono::nanoseconds d) {
  double s = std::chrono::duration<double>(d).count();
  if (s < 0) return "-" + human(-d);
  if (s < 1) return fmt("%.0fms", s * 1000);
  if (s < 60) return fmt("%.1fs", s);
  long long t = static_cast<long long>(s);
  if (t < 3600) return fmt("%lldm%llds", t / 60, t % 60);
  return fmt("%lldh%lldm", t / 3600, t % 3600 / 60);
}

}  // namespace colo::policy
