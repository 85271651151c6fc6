// The kernel's BPF run-time stats, sampled. While they are on, every run of
// every BPF program on the host reads the clock twice (about a point of
// `perf bench sched pipe` on the VM of tests/bench/RESULTS.md: as much as all
// of colo's own work there). Sampled, they are on for the first `window` of
// every `period`: each window measures what each program cost and how often it ran,
// exactly, and between windows the totals grow at the rate the last window
// measured. colo_bpf_prog_* are these totals: exact when the window is the
// whole period, else estimates (monotonic, right over whole periods for a
// steady load).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "userspace/bpf/programs.h"

namespace colo {

class StatsSampler {
 public:
  struct Io {
    // Turns the kernel's stats on or off; false if turning them on failed.
    std::function<bool(bool on)> set;
    // The kernel's counts, per program (they grow only while the stats are on).
    std::function<std::vector<bpf::ProgStats>()> read;
  };

  // 0 < window_ns <= period_ns. The first window opens at the first step().
  StatsSampler(uint64_t window_ns, uint64_t period_ns, Io io);
  // New window and period, from the next step() on (the totals carry on).
  void reconfigure(uint64_t window_ns, uint64_t period_ns);
  // Off: the stats turned off and the totals frozen (bpf.run_time_stats
  // false); on again: a window opens at the next step().
  void set_enabled(bool on, uint64_t now_ns);

  // Opens or closes a window when one is due at `now_ns` (CLOCK_MONOTONIC).
  // Call it at least a few times a window (the agent: every controller tick).
  void step(uint64_t now_ns);

  // The totals at `now_ns`: measured in the windows, carried between them.
  std::vector<bpf::ProgStats> totals(uint64_t now_ns);

  bool on() const { return on_; }
  bool enabled() const { return enabled_; }
  bool always_on() const { return window_ns_ >= period_ns_; }
  // How many windows have closed (each closed window gave a rate).
  uint64_t windows() const { return windows_; }
  // The time at which step() next has something to do.
  uint64_t next_due_ns() const { return next_ns_; }

 private:
  struct Prog {
    double ns = 0, cnt = 0;            // the totals when the window opened, or closed
    uint64_t raw_ns = 0, raw_cnt = 0;  // the kernel's counts when the window opened
    double rate_ns = 0, rate_cnt = 0;  // per ns of wall time, from the last window
  };
  void open(uint64_t now_ns);
  void close(uint64_t now_ns);
  // Folds what the rates carried since the last close into the totals.
  void carry_to(uint64_t now_ns);

  uint64_t window_ns_, period_ns_;
  Io io_;
  bool enabled_ = true, on_ = false;
  uint64_t opened_ns_ = 0, closed_ns_ = 0, next_ns_ = 0, windows_ = 0;
  std::map<std::string, Prog> progs_;
};

}  // namespace colo
