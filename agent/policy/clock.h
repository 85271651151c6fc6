// Time as the policies see it. Two clocks on purpose: time windows follow the
// wall clock (they are written as "22:00 on Friday"), everything else —
// staleness, smoothing, hold times, grace ramps, cooldowns — follows the
// monotonic clock, so an NTP step or a DST change cannot make a sample look
// fresh, a cooldown end early or a ramp finish at once. Tests use FakeClock.
#pragma once
#include <chrono>
#include <optional>

namespace colo::policy {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime now_mono() const = 0;
  virtual WallTime now_wall() const = 0;
};

class RealClock : public Clock {
 public:
  MonoTime now_mono() const override { return std::chrono::steady_clock::now(); }
  WallTime now_wall() const override { return std::chrono::system_clock::now(); }
};

// Both clocks advance together with advance(); jump_wall() moves only the wall
// clock, as an NTP step or a manual `date -s` would.
class FakeClock : public Clock {
 public:
  FakeClock() = default;
  explicit FakeClock(WallTime wall) : wall_(wall) {}
  MonoTime now_mono() const override { return mono_; }
  WallTime now_wall() const override { return wall_; }
  void set_mono(MonoTime t) { mono_ = t; }
  void set_wall(WallTime t) { wall_ = t; }
  void advance(Duration d) {
    mono_ += d;
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  }
  void jump_wall(Duration d) { wall_ += std::chrono::duration_cast<WallTime::duration>(d); }

 private:
  // Not the epoch: a zero steady time would hide "unset" bugs in callers.
  MonoTime mono_ = MonoTime{} + std::chrono::hours(1000);
  WallTime wall_{};
};

struct LocalTime {
  int weekday = 0;        // 0 = Monday … 6 = Sunday
  int minute_of_day = 0;  // 0 … 1439
  int second = 0;         // 0 … 59 (leap seconds fold into 59)
  int second_of_week() const { return (weekday * 1440 + minute_of_day) * 60 + second; }
};

// The local weekday and time of day of `t`. With an explicit UTC offset (in
// minutes, east positive) the result is deterministic; without, it follows the
// host's time zone through localtime_r.
LocalTime local_time(WallTime t, std::optional<int> utc_offset_minutes);

}  // namespace colo::policy
