#include "agent/top.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace colo {

std::string format_seconds(double s) {
  char b[32];
  if (s <= 0) return "0";
  if (s < 1e-6) snprintf(b, sizeof(b), "%.0fns", s * 1e9);
  else if (s < 1e-3) snprintf(b, sizeof(b), "%.0fus", s * 1e6);
  else if (s < 1) snprintf(b, sizeof(b), "%.1fms", s * 1e3);
  else snprintf(b, sizeof(b), "%.2fs", s);
  return b;
}

namespace {

std::string fit(std::string s, size_t w) {
  if (s.size() > w) s = "…" + s.substr(s.size() - (w - 1));
  return s;
}

// A small bar of the latency distribution over octaves 1us..64ms.
std::string hist_bar(const nlohmann::json& oct) {
  static const char* levels[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  uint64_t mx = 0;
  for (int o = 0; o < 16 && o < static_cast<int>(oct.size()); o++)
    mx = std::max<uint64_t>(mx, oct[o].get<uint64_t>());
  std::string s;
  for (int o = 0; o < 16; o++) {
    uint64_t v = o < static_cast<int>(oct.size()) ? oct[o].get<uint64_t>() : 0;
    int l = mx ? static_cast<int>(std::ceil(8.0 * v / mx)) : 0;
    s += levels[std::clamp(l, 0, 8)];
  }
  return s;
}

}  // namespace

std::string render_top(const nlohmann::json& top, int width, int rows) {
  std::string out;
  char line[512];
  double win = top.value("window_seconds", 0.0);
  snprintf(line, sizeof(line), "colo top — BPF %s (%s), window %.1fs; run-queue latency per cgroup, "
           "LS pain first\n",
           top.value("bpf_active", false) ? "on" : "off",
           top.value("attach_mode", std::string("none")).c_str(), win);
  out += line;
  int pathw = std::max(12, width - 110);
  snprintf(line, sizeof(line), "%-*s %-6s %8s %8s %-16s %7s %14s %8s %8s %7s %10s\n", pathw,
           "CGROUP", "CLASS", "P50", "P99", "1us..64ms", "EVENTS", "PREEMPT ls/be/s", "SMT-BE",
           "RECLAIM", "PSI-CPU", "TX B/s");
  out += line;
  int n = 0;
  for (auto& r : top["cgroups"]) {
    if (n++ >= rows) break;
    auto pre = r["preemptions"];
    char prebuf[48];
    snprintf(prebuf, sizeof(prebuf), "%llu/%llu/%llu",
             (unsigned long long)pre.value("ls", 0.0), (unsigned long long)pre.value("be", 0.0),
             (unsigned long long)pre.value("system", 0.0));
    std::string psi = "-";
    if (r["pressure_cpu"].is_object()) {
      char b[16];
      snprintf(b, sizeof(b), "%.1f%%", r["pressure_cpu"].value("waiting_avg10_percent", 0.0));
      psi = b;
    }
    double tx = win > 0 ? r.value("transmit_bytes", 0.0) / win : 0;
    char txb[24];
    snprintf(txb, sizeof(txb), "%.0f", tx);
    snprintf(line, sizeof(line), "%-*s %-6s %8s %8s %s %7llu %14s %8s %8s %7s %10s\n", pathw,
             fit(r.value("cgroup", std::string()), pathw).c_str(),
             r.value("class", std::string()).c_str(),
             format_seconds(r.value("runqueue_p50_seconds", 0.0)).c_str(),
             format_seconds(r.value("runqueue_p99_seconds", 0.0)).c_str(),
             hist_bar(r["runqueue_octaves_us"]).c_str(),
             (unsigned long long)r.value("runqueue_events", 0ull), prebuf,
             format_seconds(r["smt_interference_seconds"].value("be", 0.0)).c_str(),
             format_seconds(r.value("memory_reclaim_stall_seconds", 0.0)).c_str(), psi.c_str(),
             txb);
    out += line;
  }
  return out;
}

std::string render_status(const nlohmann::json& s) {
  std::string out;
  auto kv = [&](const std::string& k, const std::string& v) { out += k + ": " + v + "\n"; };
  kv("version", s.value("version", std::string()) + " (" + s.value("revision", std::string()) + ")");
  kv("ready", s.value("ready", false) ? "yes" : "no");
  if (s.contains("bpf")) {
    kv("bpf", s["bpf"].value("status", std::string()) + ", mode " +
                  s["bpf"].value("attach_mode", std::string()) + ", pinned in " +
                  s["bpf"].value("pin_dir", std::string()));
  }
  if (s.contains("cgroup")) kv("big box", s["cgroup"].value("bigbox", std::string()));
  if (s.contains("tracked_cgroups")) kv("tracked cgroups", s["tracked_cgroups"].dump());
  kv("urgent events", s.value("urgent_events_total", nlohmann::json(0)).dump());
  return out;
}

}  // namespace colo
