// `colo exec`: run a command inside the big box on a bare host.
#pragma once
#include <string>
#include <vector>

#include "agent/config.h"

namespace colo {

struct ExecOptions {
  // The job cgroup below the box ("" = "exec-<pid of colo exec>"); eviction
  // takes a job whole. Removed when the command exits, if empty.
  std::string job;
  int priority = 0;  // lower is evicted first
};

// Opens (or creates) the configured box, creates the job's cgroup in it,
// starts `argv` there with oom_score_adj 1000, forwards SIGINT/SIGTERM/SIGHUP
// to it and returns its exit code (128+signal when it was killed). 125 when
// colo itself failed.
int run_exec(const Config& cfg, const std::vector<std::string>& argv,
             const ExecOptions& opts = {});

}  // namespace colo
