// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns() and of the kernel
// side's timestamps, so userspace compares its own times with theirs.
#pragma once
#include <time.h>

#include <cstdint>

namespace colo {

inline uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace colo
