// Rendering of `colo top` and `colo status` tables from the agent's JSON.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace colo {

// A fixed-width table of the top JSON, `width` columns wide, at most `rows` cgroups.
std::string render_top(const nlohmann::json& top, int width, int rows);
std::string render_status(const nlohmann::json& status);
// "1.2ms", "850us", "3.0s"
std::string format_seconds(double s);
// "256Mi", "1.5Gi"
std::string format_bytes(double b);

// One block character per value (oldest first), the last `width` values,
// scaled to [0, max]; missing or negative values are blanks.
std::string sparkline(const std::vector<double>& values, double max, size_t width);
// `s` cut to `width` terminal columns (UTF-8 aware; every character here is
// one column wide).
std::string clip_columns(const std::string& s, size_t width);

// The full-screen view: header, the big box and its allowance over time as a
// sparkline, then the table (LS pain first), every line at most `width`
// columns and at most `height` lines. `status` may be null (no controller
// data); `error` replaces the table when the agent is unreachable.
struct TopHistory {
  std::vector<double> quota_cores;        // the box's CPU quota, one per refresh
  std::vector<double> colocatable_cores;  // what the policy allows
  void add(const nlohmann::json& status);
};
std::string render_top_screen(const nlohmann::json& top, const nlohmann::json& status,
                              const TopHistory& history, int width, int height,
                              double interval, const std::string& error);

// `colo top` on a terminal: the full-screen view, refreshed every `interval`
// seconds until q (or Ctrl-C); restores the terminal. Returns the exit code.
int run_top_live(const std::string& socket, double interval);

}  // namespace colo
