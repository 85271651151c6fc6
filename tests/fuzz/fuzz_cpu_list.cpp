// CPU lists: sysfs online/possible/thread_siblings_list, cpuset.cpus(.effective).
// Accepted lists are sorted and unique, and survive format -> parse unchanged.
#include <algorithm>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "userspace/util/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto cpus = colo::parse_cpu_list(s);
  if (!cpus) return 0;
  FUZZ_CHECK(std::is_sorted(cpus->begin(), cpus->end()));
  FUZZ_CHECK(std::adjacent_find(cpus->begin(), cpus->end()) == cpus->end());
  FUZZ_CHECK(cpus->empty() || cpus->front() >= 0);
  auto again = colo::parse_cpu_list(colo::format_cpu_list(*cpus));
  FUZZ_CHECK(again && *again == *cpus);
  return 0;
}
