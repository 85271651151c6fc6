// YAML text -> validated config (agent/config.cpp and every section parser).
// Never a crash or an exception escaping; errors name a field; an accepted
// config keeps its documented invariants.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/config.h"
#include "fuzz_common.h"

static FuzzQuietLogs quiet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<colo::ConfigError> errors;
  colo::Config c = colo::parse_config(text, &errors);
  std::string formatted = colo::format_config_errors("fuzz.yaml", errors);
  FUZZ_CHECK(errors.empty() == formatted.empty());
  for (auto& e : errors) FUZZ_CHECK(!e.reason.empty() && e.line >= 0);
  if (errors.empty()) {
    FUZZ_CHECK(!c.cgroup.bigbox.empty() && c.cgroup.bigbox[0] == '/');
    FUZZ_CHECK(c.policy.cpu_watermark >= 0 && c.policy.cpu_watermark <= 1);
    FUZZ_CHECK(c.policy.memory_watermark >= 0 && c.policy.memory_watermark <= 1);
    FUZZ_CHECK(c.controller.floor >= 0 && c.controller.floor <= 1);
    for (auto& w : c.policy.windows) {
      FUZZ_CHECK(w.start_minute >= 0 && w.start_minute < 1440);
      FUZZ_CHECK(w.end_minute >= 1 && w.end_minute <= 1440);
    }
  }
  return 0;
}
