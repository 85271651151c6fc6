// Shared bits of colo's libFuzzer targets: quiet logs, and a check that
// aborts (so libFuzzer records the input) when a parser breaks a promise.
#pragma once
#include <cstdio>
#include <cstdlib>

#include "userspace/util/log.h"

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                      \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

// Parsers may warn about what they skip; the fuzzer would drown in it.
struct FuzzQuietLogs {
  FuzzQuietLogs() { colo::set_log_level(colo::LogLevel::Error); }
};
