// The big box: the one cgroup that holds all BE work, over cgroup v1
// (cpu, cpuset, memory hierarchies + the unified one where present) and v2.
// Every write goes through one guard that refuses paths outside the box:
// colo writes only to what it created or was configured to own.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/cgroup/layout.h"
#include "userspace/util/fs.h"

namespace colo {

// One cgroup file write, for dry-run logs and tests.
struct CgroupWrite {
  std::string path;
  std::string value;
  int err = 0;  // 0 or errno
};

class BigBox {
 public:
  // The smallest CPU quota colo gives the box (1 ms per 100 ms period): its
  // safe state when nothing says BE may have more.
  static constexpr double kFloorCores = 0.01;

  struct Options {
    std::string rel_path = "/colo.slice/bigbox";  // relative to each hierarchy root
    // Per-controller exceptions ("memory" -> "/some/other/box"), e.g. when the
    // agent's own memory cgroup must hold the box (tests).
    std::map<std::string, std::string> rel_path_for;
    bool create = true;     // create the box if missing (bare host); else adopt only
    bool dry_run = false;   // decide and log, write nothing
    // Replaces write_file() for every write the guard lets through (tests
    // inject EBUSY/EINVAL/ENOSPC with it). Returns 0 or -errno.
    std::function<int(const std::string& path, std::string_view data)> write_fn;
  };

  // Failed writes by file name (cpu.cfs_quota_us, ...) and errno name (EBUSY),
  // counted since the box was opened; refused (outside the box) ones too, as EPERM.
  using WriteErrors = std::map<std::pair<std::string, std::string>, uint64_t>;

  // Finds (and with `create`, makes) the box in every hierarchy it needs.
  // nullopt + *err if a needed hierarchy is missing or the box cannot be made.
  static std::optional<BigBox> open(const CgroupLayout& layout, const Options& opts,
                                    std::string* err);

  // Lowest CPU weight: v1 cpu.shares=2, v2 cpu.weight=1; cpu.idle=1 where the
  // kernel has it (SCHED_IDLE for the whole box). The same for the levels
  // above the box that colo created (colo.slice of /colo.slice/bigbox): a
  // weight acts only against siblings, so a box at minimum weight inside a
  // parent at the default weight would still compete with LS at that
  // parent's level (and LS wakeups would wait for BE's slice to end).
  // Levels above it that colo did not create are never written; those that
  // hold nothing but the box yet run at a normal weight are logged.
  int set_min_weight();
  // Levels above the box (below the hierarchy root) in the cpu hierarchy that
  // hold nothing but the way to the box (no tasks, no other subcgroup) and
  // have neither cpu.idle=1 nor the minimum weight: through them BE competes
  // with LS at a normal weight. Levels colo created are not listed (it sets
  // them itself).
  std::vector<std::string> normal_weight_levels() const;
  // CFS bandwidth: `cores` CPUs worth per period; cores < 0: unlimited.
  int set_cpu_quota(double cores, uint64_t period_us = 100000);
  // The CPUs BE may run on (never empty). Nested cpusets below the box are
  // narrowed before the box shrinks and widened after it grows (v1 rejects a
  // child that is not a subset of its parent).
  int set_cpuset(const std::vector<int>& cpus);
  // Memory limit; 0: unlimited. v2 also sets memory.high to 95% so reclaim
  // starts before the hard limit. EBUSY (usage above the new limit) is returned
  // as is: the caller shrinks in steps or evicts.
  int set_memory_limit(uint64_t bytes);
  // oom_score_adj 1000 for every task in the box: the OOM killer picks BE first.
  // Returns how many tasks were updated.
  int set_oom_first();

  // Moves `pid` (and its threads) into the box in every hierarchy.
  int add_task(pid_t pid);
  // The cgroup.procs files a process writes itself into (colo exec's child).
  std::vector<std::string> procs_files() const;
  // All tasks of the box and its descendants (from the cpu hierarchy, or v2).
  std::vector<pid_t> tasks() const;
  // The box's subcgroups (job cgroups), relative to the box, "" = the box itself.
  std::vector<std::string> children() const;

  // Job cgroups: one directory per BE job directly below the box, in every
  // hierarchy of the box (bare hosts: `colo exec` makes one per command), so a
  // job is evicted whole. Names: [A-Za-z0-9._-]+, not starting with a dot.
  static bool valid_job_name(const std::string& name);
  // Creates the job (v1 cpuset: the box's CPUs and memory nodes); `priority`
  // (lower is evicted first) is kept with the job as trusted.colo.priority.
  bool create_job(const std::string& name, int priority, std::string* err);
  std::vector<std::string> job_procs_files(const std::string& name) const;
  std::vector<std::string> jobs() const;             // names, sorted
  std::vector<pid_t> job_tasks(const std::string& name) const;
  std::vector<pid_t> own_tasks() const;              // in the box itself, not in a job
  std::optional<uint64_t> job_memory_usage(const std::string& name) const;
  int job_priority(const std::string& name) const;   // 0 when unset
  // SIGKILLs every task of the job at once through cgroup.kill (v2, or the
  // unified mirror of a hybrid host) when the kernel has it; false otherwise
  // (the caller signals the tasks one by one).
  bool kill_job(const std::string& name);
  // Removes the job's directories (they must be empty); false if any remains.
  bool remove_job(const std::string& name);

  // Current state read back from the files (for status and adoption).
  std::optional<double> cpu_quota_cores() const;  // nullopt: unlimited
  std::optional<std::vector<int>> cpuset() const;
  std::optional<uint64_t> memory_limit() const;   // nullopt: unlimited
  std::optional<uint64_t> memory_usage() const;
  // The levels above the box in the memory hierarchy (below its root, which
  // has no limit), by path relative to that root, with how often each hit
  // its memory limit so far (v1 memory.failcnt, v2 memory.events "max").
  // A level whose count grows holds a limit that BE shares with whatever
  // else is below it. Read only; levels without the file are left out.
  std::map<std::string, uint64_t> ancestor_limit_hits() const;
  std::optional<uint64_t> cpu_usage_ns() const;   // cumulative
  // Time the box's tasks were held back by its CFS quota, cumulative ns summed
  // over CPUs (cpu.stat throttled_time on v1, throttled_usec on v2).
  std::optional<uint64_t> cpu_throttled_ns() const;

  // Directories of the box, one per hierarchy it spans.
  std::vector<std::string> dirs() const;
  const std::string& rel_path() const { return opts_.rel_path; }
  // The box's path in the hierarchy of `controller`.
  std::string rel_path_of(const std::string& controller) const;
  // Every write made (or, in dry run, that would have been made), oldest first;
  // bounded. For logs and tests.
  const std::vector<CgroupWrite>& writes() const { return writes_; }
  const WriteErrors& write_errors() const { return write_errors_; }
  // The guard: true if `path` is inside one of the box's directories.
  bool owns(const std::string& path) const;

 private:
  int write(const std::string& path, const std::string& value);
  std::optional<std::string> read(const std::string& path) const;
  std::string cpu_dir_, cpuset_dir_, mem_dir_, v2_dir_;  // "" when not present
  std::string mem_mount_;
  bool cpu_v2_ = false, cpuset_v2_ = false, mem_v2_ = false;
  Options opts_;
  std::vector<std::string> created_;  // levels colo made (removable on request)
  std::string cpu_mount_;
  // Levels above the box in the cpu hierarchy that colo created, top first:
  // their weight files are colo's to write.
  std::vector<std::string> created_above_;
  bool created_above(const std::string& dir) const;
  // The CPU weight file (appended to a cpu cgroup's directory) and its lowest value.
  const char* weight_file() const { return cpu_v2_ ? "/cpu.weight" : "/cpu.shares"; }
  int min_weight() const { return cpu_v2_ ? 1 : 2; }
  std::vector<CgroupWrite> writes_;
  WriteErrors write_errors_;
  // The box's memory usage file, read at every controller tick: kept open.
  mutable std::unique_ptr<KeptFile> mem_usage_file_;
  // Files whose last write failed, with that errno: a failure is logged when a
  // file starts failing (or fails differently), not on every retry.
  std::map<std::string, int> failing_;
};

}  // namespace colo
