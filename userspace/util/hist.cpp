#include "userspace/util/hist.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace colo {
namespace {

constexpr uint32_t kLast = COLO_HIST_SLOTS - 1;

// First microsecond of sub-slot `sub` of an octave >= COLO_HIST_SUBBITS, exact in integers.
uint64_t octave_us(uint32_t octave, uint32_t sub) {
  return (uint64_t{1} << octave) + (uint64_t{sub} << (octave - COLO_HIST_SUBBITS));
}

// [lower, upper) in microseconds of the values in `slot` (below the last).
// An empty slot gets the bounds of the nearest non-empty slot below it, so
// that both bounds stay monotonic over the slots.
void slot_bounds_us(uint32_t slot, uint64_t* lo, uint64_t* hi) {
  if (slot == 0) {
    *lo = 0, *hi = 1;
    return;
  }
  uint32_t octave = (slot - 1) / COLO_HIST_SUBSLOTS, sub = (slot - 1) % COLO_HIST_SUBSLOTS;
  if (octave < COLO_HIST_SUBBITS) {
    // Fewer integer microseconds than sub-slots here (us = 1, 2, 3 land in
    // slots 1, 5, 7): take the largest us at or below the slot.
    uint64_t us = (uint64_t{2} << octave) - 1;
    while (us > 1 && hist_slot(us * 1000) > slot) us--;
    *lo = us, *hi = us + 1;
  } else {
    *lo = octave_us(octave, sub);
    *hi = octave_us(octave, sub + 1);
  }
}

}  // namespace

uint32_t hist_slot(uint64_t ns) {
  uint64_t us = ns / 1000;
  if (us == 0) return 0;
  uint32_t octave = std::bit_width(us) - 1;
  if (octave >= COLO_HIST_OCTAVES) return kLast;
  uint32_t sub = octave >= COLO_HIST_SUBBITS
                     ? (us >> (octave - COLO_HIST_SUBBITS)) & (COLO_HIST_SUBSLOTS - 1)
                     : (us << (COLO_HIST_SUBBITS - octave)) & (COLO_HIST_SUBSLOTS - 1);
  return 1 + octave * COLO_HIST_SUBSLOTS + sub;
}

double hist_slot_upper_seconds(uint32_t slot) {
  if (slot >= kLast) return std::numeric_limits<double>::infinity();
  uint64_t lo, hi;
  slot_bounds_us(slot, &lo, &hi);
  return static_cast<double>(hi) / 1e6;
}

double hist_slot_lower_seconds(uint32_t slot) {
  uint64_t lo, hi;
  slot_bounds_us(std::min(slot, kLast), &lo, &hi);
  return static_cast<double>(lo) / 1e6;
}

double hist_quantile(const uint64_t* slots, size_t n, double q) {
  if (!slots || n == 0) return 0;
  double total = 0;
  for (size_t i = 0; i < n; i++) total += static_cast<double>(slots[i]);
  if (total == 0) return 0;
  q = std::isnan(q) ? 0 : std::clamp(q, 0.0, 1.0);
  double target = q * total, cum = 0;
  for (size_t i = 0; i < n; i++) {
    double count = static_cast<double>(slots[i]);
    if (count == 0) continue;
    // cum is summed exactly as total was, so the last non-empty slot always qualifies.
    if (cum + count >= target) {
      uint32_t slot = i >= kLast ? kLast : static_cast<uint32_t>(i);
      double lo = hist_slot_lower_seconds(slot);
      if (slot == kLast) return lo;
      double frac = std::clamp((target - cum) / count, 0.0, 1.0);
      return lo + frac * (hist_slot_upper_seconds(slot) - lo);
    }
    cum += count;
  }
  return 0;
}

}  // namespace colo
