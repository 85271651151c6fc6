// Parsers for kernel text: cpu lists, PSI, flat-keyed files, /proc/PID/cgroup.
// All total functions: bad input gives nullopt, never a crash (fuzzed in issue 7).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace colo {

// "0-3,8,10-11" -> {0,1,2,3,8,10,11} sorted, unique. "" -> {}. Rejects junk.
std::optional<std::vector<int>> parse_cpu_list(std::string_view s);
// Inverse, compact ranges: {0,1,2,5} -> "0-2,5".
std::string format_cpu_list(const std::vector<int>& cpus);

struct PsiLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;
  uint64_t total_us = 0;
};
struct Psi {
  std::optional<PsiLine> some;
  std::optional<PsiLine> full;
};
// "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull ..." (full optional).
std::optional<Psi> parse_psi(std::string_view s);

// "key value\n" lines (cpu.stat, memory.stat, memory.events); non-numeric lines skipped.
std::map<std::string, uint64_t> parse_flat_keyed(std::string_view s);

// /proc/PID/cgroup: "hier:controllers:path" lines.
struct ProcCgroupEntry {
  uint32_t hierarchy = 0;
  std::vector<std::string> controllers;  // empty for v2 ("0::/path")
  std::string path;
};
std::optional<std::vector<ProcCgroupEntry>> parse_proc_cgroup(std::string_view s);

// /proc/PID/stat: the fields after "pid (comm)", so [0] is field 3 (state),
// [6] field 9 (flags), [19] field 22 (starttime). comm may hold spaces and
// parentheses: fields are counted after the last ')'. Empty without one.
std::vector<std::string_view> parse_proc_stat_fields(std::string_view s);

}  // namespace colo
