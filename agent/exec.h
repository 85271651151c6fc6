// `colo exec`: run a command inside the big box on a bare host.
#pragma once
#include <string>
#include <vector>

#include "agent/config.h"

namespace colo {

// Opens (or creates) the configured box, starts `argv` in it with
// oom_score_adj 1000, forwards SIGINT/SIGTERM/SIGHUP to it and returns its exit
// code (128+signal when it was killed). 125 when colo itself failed.
int run_exec(const Config& cfg, const std::vector<std::string>& argv);

}  // namespace colo
