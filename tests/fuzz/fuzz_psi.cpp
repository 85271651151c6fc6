// PSI files (cgroup v2 cpu/memory/io.pressure, /proc/pressure/*).
#include <cmath>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "userspace/util/parse.h"

static void check(const colo::PsiLine& l) {
  for (double v : {l.avg10, l.avg60, l.avg300}) FUZZ_CHECK(std::isfinite(v) && v >= 0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto psi = colo::parse_psi(s);
  if (!psi) return 0;
  FUZZ_CHECK(psi->some.has_value());
  check(*psi->some);
  if (psi->full) check(*psi->full);
  return 0;
}
