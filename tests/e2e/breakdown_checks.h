// Expectations for --breakdown runs of the pwait fixture (tests/fixtures/pwait),
// shared by the amd64 tests (trace/breakdown_test.cpp) and the arm64 live
// tier (arm64/arm64_test.cpp), which compare the same events with the same
// truth.
//
// pwait runs with GOMAXPROCS=1 and async preemption off. In each "round" its
// main goroutine sleeps in C.sleep_then_stop while a spinner goroutine takes
// the P and keeps it, in a loop without preemption points, until a C thread
// releases it at stopped_ns (CLOCK_MONOTONIC, read by C). Where the spinner
// was spinning before the sleep ended (returned_ns), the call cannot get back
// into Go before stopped_ns: the event's re-entry end (start_ns +
// duration_ns) must be >= stopped_ns, and its C end (start_ns + c_ns) >=
// returned_ns. Both are causal bounds from the fixture's own timestamps (the
// same clock as bpf_ktime_get_ns), with no slack. The quiet calls afterwards
// have a free P: their sched_ns stays small.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.h"

namespace cgotrace::e2e {

inline constexpr uint64_t kMsNs = 1000 * 1000;

// The events of C function `func`, in file order.
std::vector<Json> EventsOfFunc(const std::vector<Json>& events, const std::string& func);

// An unsigned event field, 0 when absent.
uint64_t U64Field(const Json& e, const char* key);

// The runtime's own calls through runtime.cgocall (x_cgo_notify_runtime_init_done
// at start, once per exec'd image), which no fixture's truth lists.
bool RuntimeInternalCall(const std::string& func);

// Every call pwait made, exactly once per C function, and nothing else but
// the runtime's own calls.
void ExpectExactPwaitCounts(const Json& truth, const std::vector<Json>& events);

// Each event split (c_ns + sched_ns = duration_ns, both measured), the waits
// for the P inside sched_ns of the waiting rounds and only there.
void ExpectPwaitBreakdown(const Json& truth, const std::vector<Json>& events);

}  // namespace cgotrace::e2e
