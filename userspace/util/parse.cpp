#include "userspace/util/parse.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "userspace/util/fs.h"

namespace colo {
namespace {

// Far above any NR_CPUS; bounds what a hostile or corrupt list can make us allocate.
constexpr int kMaxCpus = 1 << 20;

// The whole of `s` as an unsigned decimal number (no sign, no spaces).
template <typename T>
std::optional<T> parse_uint(std::string_view s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  T value{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view s) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// Whitespace-separated tokens.
std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  constexpr std::string_view kSpace = " \t\r\v\f";
  for (;;) {
    size_t begin = s.find_first_not_of(kSpace);
    if (begin == std::string_view::npos) return out;
    s.remove_prefix(begin);
    size_t end = s.find_first_of(kSpace);
    out.push_back(s.substr(0, end));
    if (end == std::string_view::npos) return out;
    s.remove_prefix(end);
  }
}

std::optional<PsiLine> parse_psi_fields(const std::vector<std::string_view>& fields) {
  PsiLine line;
  const std::pair<std::string_view, double*> avgs[] = {
      {"avg10", &line.avg10}, {"avg60", &line.avg60}, {"avg300", &line.avg300}};
  unsigned seen = 0;  // bits 0-2: avgs[i], bit 3: total
  for (size_t i = 1; i < fields.size(); i++) {
    size_t eq = fields[i].find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view key = fields[i].substr(0, eq), value = fields[i].substr(eq + 1);
    if (key == "total") {
      auto v = parse_uint<uint64_t>(value);
      if (!v) return std::nullopt;
      line.total_us = *v;
      seen |= 8;
    }
    for (unsigned a = 0; a < 3; a++) {
      if (key != avgs[a].first) continue;
      auto v = parse_double(value);
      if (!v || *v < 0) return std::nullopt;
      *avgs[a].second = *v;
      seen |= 1u << a;
    }
    // Any other key is a field added by a newer kernel.
  }
  if (seen != 15) return std::nullopt;
  return line;
}

}  // namespace

std::optional<std::vector<int>> parse_cpu_list(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  std::vector<int> out;
  if (s.empty()) return out;
  // Ranges first, expanded once sorted and merged, so "0-1000,0-1000,..." stays cheap.
  std::vector<std::pair<int, int>> ranges;
  for (std::string_view field : split(s, ',')) {
    size_t dash = field.find('-');
    auto lo = parse_uint<int>(field.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_uint<int>(field.substr(dash + 1));
    if (!lo || !hi || *lo > *hi || *hi >= kMaxCpus) return std::nullopt;
    ranges.emplace_back(*lo, *hi);
  }
  std::sort(ranges.begin(), ranges.end());
  int next = 0;  // first cpu not yet emitted
  for (auto [lo, hi] : ranges) {
    for (int cpu = std::max(lo, next); cpu <= hi; cpu++) out.push_back(cpu);
    next = std::max(next, hi + 1);
  }
  return out;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::vector<int> sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) j++;
    if (!out.empty()) out.push_back(',');
    out += std::to_string(sorted[i]);
    if (j > i) out += "-" + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out;
}

std::optional<Psi> parse_psi(std::string_view s) {
  Psi psi;
  for (std::string_view line : split(s, '\n')) {
    auto fields = tokens(line);
    if (fields.empty()) continue;
    std::optional<PsiLine>* slot = fields[0] == "some" ? &psi.some
                                 : fields[0] == "full" ? &psi.full : nullptr;
    if (!slot || slot->has_value()) return std::nullopt;
    *slot = parse_psi_fields(fields);
    if (!*slot) return std::nullopt;
  }
  if (!psi.some) return std::nullopt;
  return psi;
}

std::map<std::string, uint64_t> parse_flat_keyed(std::string_view s) {
  std::map<std::string, uint64_t> out;
  for (std::string_view line : split(s, '\n')) {
    auto fields = tokens(line);
    if (fields.size() != 2) continue;
    if (auto v = parse_uint<uint64_t>(fields[1])) out[std::string(fields[0])] = *v;
  }
  return out;
}

std::optional<std::vector<ProcCgroupEntry>> parse_proc_cgroup(std::string_view s) {
  std::vector<ProcCgroupEntry> out;
  for (std::string_view line : split(s, '\n')) {
    if (line.empty()) continue;
    // The path may itself contain ':', so only the first two separate fields.
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return std::nullopt;
    ProcCgroupEntry e;
    auto hier = parse_uint<uint32_t>(line.substr(0, c1));
    e.path = std::string(line.substr(c2 + 1));
    if (!hier || e.path.empty() || e.path[0] != '/') return std::nullopt;
    e.hierarchy = *hier;
    std::string_view ctrls = line.substr(c1 + 1, c2 - c1 - 1);
    if (!ctrls.empty()) {
      for (std::string_view c : split(ctrls, ',')) {
        if (c.empty()) return std::nullopt;
        e.controllers.emplace_back(c);
      }
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::vector<std::string_view> parse_proc_stat_fields(std::string_view s) {
  std::vector<std::string_view> out;
  auto close = s.rfind(')');
  if (close == std::string_view::npos) return out;
  for (auto f : split(trim(s.substr(close + 1)), ' '))
    if (!f.empty()) out.push_back(f);
  return out;
}

}  // namespace colo
