// Small text helpers for test assertions.
#pragma once
#include <cstddef>
#include <string>

namespace colo::test {

// Every occurrence of `needle` in `text` (e.g. log lines).
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) n++;
  return n;
}

}  // namespace colo::test
