// "5ms", "1s", ... -> ns (config durations). An accepted value is exact: no
// silent wrap-around of a huge count.
#include <cstdint>
#include <string>

#include "agent/config.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  auto v = colo::parse_duration_ns(s);
  if (!v) return 0;
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
  FUZZ_CHECK(i > 0);
  // Recompute with 128-bit arithmetic: the result must not have wrapped.
  unsigned __int128 count = 0;
  for (size_t k = 0; k < i; k++) count = count * 10 + (s[k] - '0');
  std::string unit = s.substr(i);
  unsigned __int128 mult = unit == "ns" ? 1 : unit == "us" ? 1000 : unit == "ms" ? 1000000
                         : unit == "s" ? 1000000000ull : unit == "m" ? 60000000000ull
                         : unit == "h" ? 3600000000000ull : 0;
  FUZZ_CHECK(mult != 0);
  FUZZ_CHECK(count * mult == static_cast<unsigned __int128>(*v));
  return 0;
}
