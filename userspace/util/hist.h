// Userspace twin of the kernel's run-queue latency slot math (bpf/include/colo_common.bpf.h)
// and quantiles over such histograms.
#pragma once
#include <cstddef>
#include <cstdint>

#include "colo_abi.h"

namespace colo {

// Same slot as colo_hist_slot() in the kernel for a latency in ns.
uint32_t hist_slot(uint64_t ns);
// Upper bound (exclusive) of a slot in seconds: every ns value whose slot is
// `slot` is < this bound. The last slot returns +inf.
double hist_slot_upper_seconds(uint32_t slot);
// Lower bound (inclusive) of a slot in seconds.
double hist_slot_lower_seconds(uint32_t slot);
// Quantile q in [0,1] of a COLO_HIST_SLOTS-slot histogram in seconds, linear
// inside the slot; 0 when empty.
double hist_quantile(const uint64_t* slots, size_t n, double q);

}  // namespace colo
