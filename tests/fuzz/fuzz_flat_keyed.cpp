// "key value" files: cpu.stat, memory.stat, memory.events, cpuacct.stat.
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "userspace/util/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto kv = colo::parse_flat_keyed(s);
  for (auto& [k, v] : kv) {
    FUZZ_CHECK(!k.empty());
    FUZZ_CHECK(k.find_first_of(" \t\n") == std::string::npos);
    (void)v;
  }
  return 0;
}
