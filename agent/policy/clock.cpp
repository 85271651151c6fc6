#include "agent/policy/clock.h"

#include <time.h>

namespace colo::policy {

LocalTime local_time(WallTime t, std::optional<int> utc_offset_minutes) {
  // Whole seconds, rounded down also before 1970 (to_time_t truncates).
  auto secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  LocalTime lt;
  if (utc_offset_minutes) {
    long long s = secs + static_cast<long long>(*utc_offset_minutes) * 60;
    long long days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    long long sod = s - days * 86400;
    lt.weekday = static_cast<int>(((days + 3) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
    lt.minute_of_day = static_cast<int>(sod / 60);
    lt.second = static_cast<int>(sod % 60);
    return lt;
  }
  time_t tt = static_cast<time_t>(secs);
  struct tm tm {};
  if (!localtime_r(&tt, &tm)) return lt;
  lt.weekday = (tm.tm_wday + 6) % 7;
  lt.minute_of_day = tm.tm_hour * 60 + tm.tm_min;
  lt.second = tm.tm_sec > 59 ? 59 : tm.tm_sec;
  return lt;
}

}  // namespace colo::policy
