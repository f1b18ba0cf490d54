// Clock readings in nanoseconds. Every timestamp cgotrace handles (BPF's
// bpf_ktime_get_ns, event start_ns, recording times) is CLOCK_MONOTONIC;
// CLOCK_REALTIME only anchors a recording to wall time. Thread-safe.
#pragma once

#include <cstdint>

namespace cgotrace {

uint64_t MonotonicNs();
uint64_t RealtimeNs();

}  // namespace cgotrace
