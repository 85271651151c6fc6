// /proc/PID/cgroup: "hierarchy:controllers:path" lines.
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "userspace/util/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto entries = colo::parse_proc_cgroup(s);
  if (!entries) return 0;
  FUZZ_CHECK(!entries->empty());
  for (auto& e : *entries) {
    FUZZ_CHECK(!e.path.empty() && e.path[0] == '/');
    for (auto& c : e.controllers) FUZZ_CHECK(!c.empty() && c.find(',') == std::string::npos);
  }
  return 0;
}
