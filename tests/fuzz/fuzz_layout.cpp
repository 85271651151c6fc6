// /proc/self/mountinfo + /proc/cgroups -> the cgroup hierarchies. The input
// holds both texts separated by a NUL byte.
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "userspace/cgroup/layout.h"

static FuzzQuietLogs quiet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string all(reinterpret_cast<const char*>(data), size);
  size_t nul = all.find('\0');
  std::string mountinfo = all.substr(0, nul);
  std::string proc_cgroups = nul == std::string::npos ? "" : all.substr(nul + 1);
  std::string err;
  auto layout = colo::CgroupLayout::from_texts("/sys/fs/cgroup", mountinfo, proc_cgroups, &err);
  if (!layout) {
    FUZZ_CHECK(!err.empty());
    return 0;
  }
  for (auto& h : layout->hierarchies()) {
    // Only mounts at or below the root are kept.
    FUZZ_CHECK(h.mount.rfind("/sys/fs/cgroup", 0) == 0);
  }
  for (const char* c : {"cpu", "cpuset", "memory", "cpuacct"}) (void)layout->for_controller(c);
  (void)layout->unified();
  (void)layout->pure_v2();
  return 0;
}
