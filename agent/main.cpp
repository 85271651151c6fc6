// colo: the command line. Every subcommand of ../shared/contract.md that exists
// is here; fatal setup errors are caught and reported once.
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/control.h"
#include "agent/exec.h"
#include "userspace/cgroup/bigbox.h"
#include "agent/top.h"
#include "userspace/bpf/programs.h"
#include "userspace/util/log.h"

namespace {

int cmd_validate(const std::string& file) {
  std::vector<colo::ConfigError> errs;
  colo::load_config_file(file, &errs);
  if (!errs.empty()) {
    std::cerr << colo::format_config_errors(file, errs);
    return 1;
  }
  std::cout << file << ": valid\n";
  return 0;
}

int cmd_status(const std::string& socket, const std::string& output) {
  std::string err;
  auto j = colo::control_request(socket, {{"cmd", "status"}}, &err);
  if (!j) {
    std::cerr << "colo status: " << err << "\n";
    return 1;
  }
  if (output == "json") std::cout << j->dump(2) << "\n";
  else std::cout << colo::render_status(*j);
  return 0;
}

int cmd_top(const std::string& socket, const std::string& output, bool once, double interval) {
  // On a terminal: the full-screen view (q quits). --once, -o json and pipes
  // print one table or document.
  if (!once && output == "table" && isatty(STDOUT_FILENO))
    return colo::run_top_live(socket, interval);
  std::string err;
  auto j = colo::control_request(socket, {{"cmd", "top"}}, &err);
  if (!j) {
    std::cerr << "colo top: " << err << "\n";
    return 1;
  }
  if (j->contains("error")) {
    std::cerr << "colo top: " << (*j)["error"].get<std::string>() << "\n";
    return 1;
  }
  if (output == "json") {
    std::cout << j->dump(2) << "\n";
    return 0;
  }
  winsize ws{};
  int width = 160;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) width = ws.ws_col;
  std::cout << colo::render_top(*j, width, 1000) << std::flush;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"colo: colocation agent — BE work gets the idle cycles, LS never waits for it"};
  // At most one; "none" is reported after parsing, so that an unknown word or
  // flag is named instead of "a subcommand is required".
  app.require_subcommand(0, 1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug|info|warn|error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  colo::AgentOptions ao;
  auto* agent = app.add_subcommand("agent", "Run the node agent in the foreground");
  agent->add_option("--config", ao.config_path, "YAML config file (default: built-in)")
      ->check(CLI::ExistingFile);
  agent->add_option("--metrics-addr", ao.metrics_addr, "HOST:PORT for /metrics")
      ->check([](const std::string& s) {
        return colo::valid_host_port(s) ? std::string() : "expected HOST:PORT, got '" + s + "'";
      });
  agent->add_option("--cgroup-root", ao.cgroup_root, "Where cgroup hierarchies are mounted");
  agent->add_option("--sysfs-root", ao.sysfs_root, "Root of sysfs for CPU topology");
  agent->add_option("--bpf-pin-dir", ao.bpf_pin_dir, "Directory for pinned maps (bpffs)");
  agent->add_option("--socket", ao.socket_path, "Control socket path");
  agent->add_flag("--dry-run", ao.dry_run, "Decide and log, but write no cgroup file");

  std::string validate_file;
  auto* validate = app.add_subcommand("validate", "Check a config file");
  validate->add_option("FILE", validate_file, "config file")->required();

  auto* config = app.add_subcommand("config", "Configuration helpers");
  config->require_subcommand(1);
  auto* config_default = config->add_subcommand("default", "Print the built-in defaults as YAML");

  std::string socket = "/run/colo/colo.sock", output = "table";
  auto* status = app.add_subcommand("status", "The running agent's state");
  status->add_option("--socket", socket, "Control socket path");
  status->add_option("-o,--output", output, "table|json")->check(CLI::IsMember({"table", "json"}));

  bool once = false;
  double interval = 1.0;
  auto* top = app.add_subcommand("top", "Per-cgroup signals, live");
  top->add_option("--socket", socket, "Control socket path");
  top->add_option("-o,--output", output, "table|json")->check(CLI::IsMember({"table", "json"}));
  top->add_flag("--once", once, "Print once and exit");
  top->add_option("--interval", interval, "Refresh seconds")->check(CLI::Range(0.1, 60.0));

  std::string exec_config, exec_class = "be";
  std::vector<std::string> exec_argv;
  auto* exec = app.add_subcommand("exec", "Run a command inside the big box (bare hosts)");
  exec->add_option("--config", exec_config, "YAML config file (default: built-in)")
      ->check(CLI::ExistingFile);
  exec->add_option("--class", exec_class, "Workload class (be)")->check(CLI::IsMember({"be"}));
  colo::ExecOptions exec_opts;
  exec->add_option("--job", exec_opts.job,
                   "Name of the job's cgroup below the box (default exec-PID); evicted whole")
      ->check([](const std::string& v) {
        return colo::BigBox::valid_job_name(v) ? std::string()
                                               : "a job name is letters, digits, '.', '_', '-'";
      });
  exec->add_option("--priority", exec_opts.priority,
                   "Eviction priority of the job: lower is evicted first (default 0)");
  exec->add_option("CMD", exec_argv, "the command and its arguments, after --")->required();

  bool evict = false;
  auto* disable = app.add_subcommand("disable", "Colocation off: shrink the big box to zero");
  disable->add_option("--socket", socket, "Control socket path");
  disable->add_flag("--evict", evict, "Also evict (SIGTERM) the box's tasks");
  auto* enable = app.add_subcommand("enable", "Colocation on again");
  enable->add_option("--socket", socket, "Control socket path");

  std::string pin_dir = "/sys/fs/bpf/colo";
  auto* bpf = app.add_subcommand("bpf", "BPF object helpers");
  bpf->require_subcommand(1);
  auto* cleanup = bpf->add_subcommand("cleanup", "Remove colo's pinned maps");
  cleanup->add_option("--bpf-pin-dir", pin_dir, "Directory of the pinned maps");

  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) {
    std::cerr << "colo: a subcommand is required (agent, validate, config, status, top, exec, "
                 "disable, enable, bpf)\nRun with --help for more information.\n";
    return 2;
  }
  colo::LogLevel lvl;
  if (colo::parse_log_level(log_level, &lvl)) colo::set_log_level(lvl);

  try {
    if (*agent) return colo::Agent(ao).run();
    if (*validate) return cmd_validate(validate_file);
    if (*config_default) {
      std::cout << colo::default_config_yaml();
      return 0;
    }
    if (*exec) {
      std::vector<colo::ConfigError> errs;
      colo::Config cfg = exec_config.empty() ? colo::parse_config("", &errs)
                                             : colo::load_config_file(exec_config, &errs);
      if (!errs.empty()) {
        std::cerr << colo::format_config_errors(exec_config, errs);
        return 125;
      }
      return colo::run_exec(cfg, exec_argv, exec_opts);
    }
    if (*disable || *enable) {
      std::string err;
      nlohmann::json req = {{"cmd", *enable ? "enable" : "disable"}, {"evict", evict}};
      auto j = colo::control_request(socket, req, &err);
      if (!j || j->contains("error")) {
        std::cerr << "colo " << (*enable ? "enable" : "disable") << ": "
                  << (j ? (*j)["error"].get<std::string>() : err) << "\n";
        return 1;
      }
      std::cout << "colocation " << ((*j)["enabled"].get<bool>() ? "enabled" : "disabled") << "\n";
      return 0;
    }
    if (*status) return cmd_status(socket, output);
    if (*top) return cmd_top(socket, output, once, interval);
    if (*cleanup) {
      std::string err;
      int n = colo::bpf::cleanup_pins(pin_dir, &err);
      if (n < 0 || !err.empty()) {
        std::cerr << "colo bpf cleanup: " << err << "\n";
        return 1;
      }
      std::cout << "removed " << n << " pinned objects from " << pin_dir << "\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "colo: fatal: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
