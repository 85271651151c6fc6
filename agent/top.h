// Rendering of `colo top` and `colo status` tables from the agent's JSON.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace colo {

// A fixed-width table of the top JSON, `width` columns wide, at most `rows` cgroups.
std::string render_top(const nlohmann::json& top, int width, int rows);
std::string render_status(const nlohmann::json& status);
// "1.2ms", "850us", "3.0s"
std::string format_seconds(double s);

}  // namespace colo
