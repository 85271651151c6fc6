#include "agent/top.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "agent/control.h"

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

std::string format_bytes(double b) {
  static const char* units[] = {"B", "Ki", "Mi", "Gi", "Ti"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    u++;
  }
  char out[32];
  if (u == 0 || b >= 100 || b == std::floor(b)) snprintf(out, sizeof(out), "%.0f%s", b, units[u]);
  else snprintf(out, sizeof(out), "%.1f%s", b, units[u]);
  return out;
}

namespace {

std::string clock_time(int64_t unix_ms) {
  time_t t = static_cast<time_t>(unix_ms / 1000);
  tm lt{};
  localtime_r(&t, &lt);
  char b[16];
  strftime(b, sizeof(b), "%H:%M:%S", &lt);
  return b;
}

std::string num(const nlohmann::json& v, const char* fmt, const char* none = "-") {
  if (!v.is_number()) return none;
  char b[32];
  snprintf(b, sizeof(b), fmt, v.get<double>());
  return b;
}

std::string str(const nlohmann::json& j, const char* key, const char* none = "-") {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
    return none;
  return j[key].get<std::string>();
}

}  // namespace

std::string render_status(const nlohmann::json& s) {
  std::string out;
  auto kv = [&](const std::string& k, const std::string& v) { out += k + ": " + v + "\n"; };
  kv("version", s.value("version", std::string()) + " (" + s.value("revision", std::string()) + ")");
  kv("ready", s.value("ready", false) ? "yes" : "no");
  if (s.contains("bpf")) {
    kv("bpf", s["bpf"].value("status", std::string()) + ", mode " +
                  s["bpf"].value("attach_mode", std::string()) + ", waits from " +
                  s["bpf"].value("wait_source", std::string()) + ", pinned in " +
                  s["bpf"].value("pin_dir", std::string()));
  }
  const nlohmann::json& c = s.contains("control") ? s["control"] : nlohmann::json();
  if (!c.is_object()) {
    if (s.contains("cgroup")) kv("big box", s["cgroup"].value("bigbox", std::string()) + " (not managed: observe only)");
  } else {
    kv("colocation", c.value("enabled", false) ? "enabled" : "DISABLED (colo enable turns it on)");
    const auto& b = c["bigbox"];
    kv("big box", str(b, "path") + ": CPU quota " + num(b["cpu_quota_cores"], "%.2f cores") +
                      ", cpuset " + str(b, "cpuset", "all") + ", memory limit " +
                      (b["memory_limit_bytes"].is_number()
                           ? format_bytes(b["memory_limit_bytes"].get<double>())
                           : std::string("-")) +
                      ", " + num(b["tasks"], "%.0f") + " tasks");
    const auto& k = c["colocatable"];
    kv("colocatable", num(k["cpu_cores"], "%.2f cores") + ", " +
                          (k["memory_bytes"].is_number() ? format_bytes(k["memory_bytes"].get<double>())
                                                         : std::string("-")) +
                          " memory");
    kv("policy", "mode " + str(k, "mode") + ", window " + str(k, "window", "none") + ", phase " +
                     str(k, "phase") + ", level " + num(k["level"], "%.2f"));
    if (k.contains("reason")) kv("  why", str(k, "reason"));
    if (c.contains("fast_path"))
      kv("fast path", c["fast_path"].value("armed", false)
                          ? "armed (BE runs): LS demand read every controller.fast_interval"
                          : "asleep (BE runs nothing): LS demand read every controller.tick");
  }
  if (s.contains("tracked_cgroups")) kv("tracked cgroups", s["tracked_cgroups"].dump());
  kv("urgent events", s.value("urgent_events_total", nlohmann::json(0)).dump());
  if (s.contains("evictions")) {
    std::string t;
    double total = 0;
    for (auto& [r, n] : s["evictions"]["totals"].items()) {
      total += n.get<double>();
      if (n.get<double>() > 0) t += (t.empty() ? "" : ", ") + r + " " + n.dump();
    }
    kv("evictions", num(nlohmann::json(total), "%.0f") + (t.empty() ? "" : " (" + t + ")"));
    for (auto& d : s["evictions"]["recent"])
      out += "  " + clock_time(d.value("time_unix_ms", int64_t(0))) + "  " + d.value("what", "") +
             ": " + d.value("reason", "") + "\n";
  }
  if (c.is_object() && c.contains("decisions") && !c["decisions"].empty()) {
    out += "last decisions (newest last):\n";
    const auto& ds = c["decisions"];
    size_t from = ds.size() > 10 ? ds.size() - 10 : 0;
    for (size_t i = from; i < ds.size(); i++)
      out += "  " + clock_time(ds[i].value("time_unix_ms", int64_t(0))) + "  " +
             ds[i].value("what", "") + ": " + ds[i].value("reason", "") + "\n";
  }
  return out;
}

std::string sparkline(const std::vector<double>& v, double max, size_t width) {
  static const char* levels[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::string s;
  size_t from = v.size() > width ? v.size() - width : 0;
  for (size_t i = from; i < v.size(); i++) {
    if (!(v[i] >= 0) || max <= 0) {
      s += " ";
      continue;
    }
    int l = static_cast<int>(std::lround(7.0 * std::min(v[i], max) / max));
    s += levels[std::clamp(l, 0, 7)];
  }
  return s;
}

std::string clip_columns(const std::string& s, size_t width) {
  size_t cols = 0, i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    if (cols == width) return s.substr(0, i);
    cols++;
    i += len;
  }
  return s;
}

void TopHistory::add(const nlohmann::json& status) {
  const nlohmann::json* c = status.is_object() && status.contains("control") ? &status["control"] : nullptr;
  auto val = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : -1.0; };
  quota_cores.push_back(c ? val((*c)["bigbox"]["cpu_quota_cores"]) : -1);
  colocatable_cores.push_back(c ? val((*c)["colocatable"]["cpu_cores"]) : -1);
  const size_t keep = 1000;
  for (auto* v : {&quota_cores, &colocatable_cores})
    if (v->size() > keep) v->erase(v->begin(), v->begin() + (v->size() - keep));
}

std::string render_top_screen(const nlohmann::json& top, const nlohmann::json& status,
                              const TopHistory& h, int width, int height, double interval,
                              const std::string& error) {
  std::vector<std::string> lines;
  char b[512];
  time_t now = time(nullptr);
  tm lt{};
  localtime_r(&now, &lt);
  char clock[16];
  strftime(clock, sizeof(clock), "%H:%M:%S", &lt);
  snprintf(b, sizeof(b), "colo top  %s  refresh %.1fs  sorted by LS pain (LS first, worst p99)  q: quit",
           clock, interval);
  lines.push_back(b);
  const nlohmann::json* c =
      status.is_object() && status.contains("control") ? &status["control"] : nullptr;
  if (c) {
    const auto& box = (*c)["bigbox"];
    const auto& k = (*c)["colocatable"];
    lines.push_back("box " + str(box, "path") + "  quota " + num(box["cpu_quota_cores"], "%.2f") +
                    " / colocatable " + num(k["cpu_cores"], "%.2f") + " cores  cpuset " +
                    str(box, "cpuset", "all") + "  memory " +
                    (box["memory_limit_bytes"].is_number()
                         ? format_bytes(box["memory_limit_bytes"].get<double>())
                         : std::string("-")) +
                    "  policy " + str(k, "mode") + (k.contains("window") && k["window"].is_string() &&
                                                            !k["window"].get<std::string>().empty()
                                                        ? " (" + k["window"].get<std::string>() + ")"
                                                        : "") +
                    "  colocation " + (c->value("enabled", false) ? "on" : "OFF"));
    double mx = 0;
    for (double v : h.quota_cores) mx = std::max(mx, v);
    for (double v : h.colocatable_cores) mx = std::max(mx, v);
    size_t w = static_cast<size_t>(std::max(10, width - 40));
    snprintf(b, sizeof(b), "allowance %s  now %s of max %.2f cores",
             sparkline(h.quota_cores, mx, w).c_str(),
             h.quota_cores.empty() ? "-" : num(nlohmann::json(h.quota_cores.back()), "%.2f").c_str(),
             mx);
    lines.push_back(b);
  } else {
    lines.push_back("box: not managed by this agent (observe only); no allowance to show");
  }
  if (!error.empty()) {
    lines.push_back("");
    lines.push_back("agent unreachable: " + error + " (retrying)");
  } else if (top.is_object() && top.contains("cgroups")) {
    int rows = std::max(1, height - static_cast<int>(lines.size()) - 2);
    std::string table = render_top(top, width, rows);
    size_t pos = 0;
    while (pos < table.size()) {
      size_t nl = table.find('\n', pos);
      if (nl == std::string::npos) nl = table.size();
      lines.push_back(table.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  std::string out;
  int n = 0;
  for (auto& l : lines) {
    if (n++ >= height) break;
    out += clip_columns(l, static_cast<size_t>(width)) + "\x1b[K\r\n";
  }
  return out;
}

namespace {

volatile sig_atomic_t g_stop = 0;

// Raw keys, alternate screen, no cursor; undone by the destructor.
class TerminalMode {
 public:
  TerminalMode() {
    if (tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      have_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs("\x1b[?1049h\x1b[?25l", stdout);
    fflush(stdout);
  }
  ~TerminalMode() {
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    if (have_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool have_ = false;
};

}  // namespace

int run_top_live(const std::string& socket, double interval) {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = [](int) {};  // a resize interrupts the wait: redraw at once
  sigaction(SIGWINCH, &sa, nullptr);
  TerminalMode term;
  TopHistory history;
  while (!g_stop) {
    std::string err;
    auto top = control_request(socket, {{"cmd", "top"}}, &err);
    nlohmann::json status;
    if (top && top->contains("error")) {
      err = (*top)["error"].get<std::string>();
      top.reset();
    }
    if (top) {
      if (auto st = control_request(socket, {{"cmd", "status"}}, &err)) status = *st;
      history.add(status);
    }
    winsize ws{};
    int width = 120, height = 40;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      width = ws.ws_col;
      height = ws.ws_row;
    }
    std::string screen = render_top_screen(top ? *top : nlohmann::json(), status, history, width,
                                           height, interval, top ? "" : err);
    fputs("\x1b[H", stdout);
    fputs(screen.c_str(), stdout);
    fputs("\x1b[J", stdout);
    fflush(stdout);
    // Wait for the next refresh, a key, or a signal.
    auto deadline = static_cast<int>(interval * 1000);
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (poll(&p, 1, deadline) > 0) {
      char keys[16];
      ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
      for (ssize_t i = 0; i < n; i++)
        if (keys[i] == 'q' || keys[i] == 'Q') g_stop = 1;
    }
  }
  return 0;
}

}  // namespace colo
