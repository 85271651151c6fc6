#include "agent/stats_sampler.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace colo {

namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

// What the kernel counted since `then`. The agent keeps its programs for its
// life; were one loaded again, its count would start from 0.
uint64_t since(uint64_t now, uint64_t then) { return now >= then ? now - then : now; }

// Wall time from `then` to `now`, in ns.
double elapsed(uint64_t now, uint64_t then) { return now > then ? double(now - then) : 0; }

}  // namespace

StatsSampler::StatsSampler(uint64_t window_ns, uint64_t period_ns, Io io)
    : window_ns_(window_ns), period_ns_(period_ns), io_(std::move(io)) {}

void StatsSampler::reconfigure(uint64_t window_ns, uint64_t period_ns) {
  if (window_ns == window_ns_ && period_ns == period_ns_) return;  // a reload that kept them
  window_ns_ = window_ns;
  period_ns_ = period_ns;
  // An open window ends at its new end (at once if that has passed); a closed
  // one gives way to a window at the next step.
  next_ns_ = on_ ? (always_on() ? kNever : opened_ns_ + window_ns_) : 0;
}

void StatsSampler::set_enabled(bool on, uint64_t now_ns) {
  if (on == enabled_) return;
  if (!on) {
    if (on_) {
      close(now_ns);
    } else {
      io_.set(false);
      carry_to(now_ns);
    }
    for (auto& [name, p] : progs_) p.rate_ns = p.rate_cnt = 0;  // frozen
    closed_ns_ = now_ns;
  }
  enabled_ = on;
  next_ns_ = on ? 0 : kNever;
}

void StatsSampler::step(uint64_t now_ns) {
  if (!enabled_ || now_ns < next_ns_) return;
  if (on_)
    close(now_ns);
  else
    open(now_ns);
}

void StatsSampler::carry_to(uint64_t now_ns) {
  const double gap = elapsed(now_ns, closed_ns_);
  for (auto& [name, p] : progs_) {
    p.ns += p.rate_ns * gap;
    p.cnt += p.rate_cnt * gap;
  }
  closed_ns_ = now_ns;
}

void StatsSampler::open(uint64_t now_ns) {
  carry_to(now_ns);
  // Read before turning them on: nothing of colo's is counted in between.
  for (const bpf::ProgStats& r : io_.read()) {
    auto [it, added] = progs_.try_emplace(r.name);
    Prog& p = it->second;
    if (added) {
      // What the kernel counted before colo looked (another holder of the
      // stats) is where its total starts.
      p.ns = double(r.run_time_ns);
      p.cnt = double(r.run_cnt);
    }
    p.raw_ns = r.run_time_ns;
    p.raw_cnt = r.run_cnt;
  }
  if (!io_.set(true)) {
    // The totals go on at the last rates; another try a period on.
    next_ns_ = now_ns + period_ns_;
    return;
  }
  on_ = true;
  opened_ns_ = now_ns;
  next_ns_ = always_on() ? kNever : now_ns + window_ns_;
}

void StatsSampler::close(uint64_t now_ns) {
  // Turned off before the reading: the reading holds all the window counted.
  io_.set(false);
  const double dur = elapsed(now_ns, opened_ns_);
  std::set<std::string> seen;
  for (const bpf::ProgStats& r : io_.read()) {
    seen.insert(r.name);
    auto [it, added] = progs_.try_emplace(r.name);
    Prog& p = it->second;
    const uint64_t dn = added ? r.run_time_ns : since(r.run_time_ns, p.raw_ns);
    const uint64_t dc = added ? r.run_cnt : since(r.run_cnt, p.raw_cnt);
    p.ns += double(dn);
    p.cnt += double(dc);
    // A program that appeared within the window ran for part of it: no rate.
    p.rate_ns = added || dur <= 0 ? 0 : double(dn) / dur;
    p.rate_cnt = added || dur <= 0 ? 0 : double(dc) / dur;
  }
  for (auto& [name, p] : progs_)
    if (!seen.count(name)) p.rate_ns = p.rate_cnt = 0;  // gone: its total stays
  on_ = false;
  closed_ns_ = now_ns;
  windows_++;
  next_ns_ = std::max(now_ns, opened_ns_ + period_ns_);
}

std::vector<bpf::ProgStats> StatsSampler::totals(uint64_t now_ns) {
  std::vector<bpf::ProgStats> out;
  if (on_ || progs_.empty()) {
    for (const bpf::ProgStats& r : io_.read()) {
      auto it = progs_.find(r.name);
      if (it == progs_.end() || !on_) {
        out.push_back(r);  // not sampled yet: the kernel's own counts
        continue;
      }
      const Prog& p = it->second;
      out.push_back({r.name, uint64_t(p.ns + double(since(r.run_time_ns, p.raw_ns))),
                     uint64_t(p.cnt + double(since(r.run_cnt, p.raw_cnt)))});
    }
    return out;
  }
  const double gap = elapsed(now_ns, closed_ns_);
  for (const auto& [name, p] : progs_)
    out.push_back({name, uint64_t(p.ns + p.rate_ns * gap), uint64_t(p.cnt + p.rate_cnt * gap)});
  return out;
}

}  // namespace colo
