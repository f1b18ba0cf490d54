#include "breakdown_checks.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "checks.h"

namespace cgotrace::e2e {

std::vector<Json> EventsOfFunc(const std::vector<Json>& events, const std::string& func) {
  std::vector<Json> out;
  for (const Json& e : events) {
    if (e.value("func", "") == func) out.push_back(e);
  }
  return out;
}

uint64_t U64Field(const Json& e, const char* key) { return e.value(key, uint64_t{0}); }

bool RuntimeInternalCall(const std::string& func) {
  return func.starts_with("_cgo_") || func.starts_with("x_cgo_");
}

void ExpectExactPwaitCounts(const Json& truth, const std::vector<Json>& events) {
  int64_t total = 0;
  for (const auto& [func, n] : truth.at("calls").items()) {
    EXPECT_EQ(static_cast<int64_t>(EventsOfFunc(events, func).size()), n.get<int64_t>()) << func;
    total += n.get<int64_t>();
  }
  int64_t internal = 0;
  for (const Json& e : events) {
    internal += RuntimeInternalCall(e.value("func", "")) ? 1 : 0;
  }
  EXPECT_EQ(CountKind(events, "cgo_call"), total + internal) << FuncSummary(events);
}

void ExpectPwaitBreakdown(const Json& truth, const std::vector<Json>& events) {
  for (const Json& e : events) {
    SCOPED_TRACE(e.dump());
    ASSERT_GT(U64Field(e, "c_ns"), 0u);
    ASSERT_GT(U64Field(e, "sched_ns"), 0u);
    EXPECT_EQ(U64Field(e, "c_ns") + U64Field(e, "sched_ns"), U64Field(e, "duration_ns"));
  }

  const uint64_t sleep_ns = truth.at("sleep_ms").get<uint64_t>() * kMsNs;
  const uint64_t quiet_ns = truth.at("quiet_ms").get<uint64_t>() * kMsNs;
  // Rounds in completion order, as the calls are (one goroutine makes them).
  const std::vector<Json> waits = EventsOfFunc(events, "sleep_then_stop");
  const Json& rounds = truth.at("rounds");
  ASSERT_EQ(waits.size(), rounds.size());
  int held = 0;
  std::vector<uint64_t> wait_sched;
  for (size_t i = 0; i < waits.size(); ++i) {
    const Json& e = waits[i];
    const Json& r = rounds[i];
    SCOPED_TRACE(e.dump() + " round " + r.dump());
    EXPECT_EQ(U64Field(e, "goid"), truth.at("waiter_goid").get<uint64_t>());
    EXPECT_GE(U64Field(e, "c_ns"), sleep_ns) << "the C sleep is inside c_ns";
    const uint64_t c_end = U64Field(e, "start_ns") + U64Field(e, "c_ns");
    const uint64_t back_in_go = U64Field(e, "start_ns") + U64Field(e, "duration_ns");
    EXPECT_GE(c_end, U64Field(r, "returned_ns")) << "C end after the sleep ended";
    if (U64Field(r, "spinning_ns") < U64Field(r, "returned_ns") &&
        U64Field(r, "returned_ns") < U64Field(r, "stopped_ns")) {
      // The spinner held the only P when C returned: no way back into Go
      // before it was released.
      ++held;
      EXPECT_GE(back_in_go, U64Field(r, "stopped_ns"))
          << "re-entered Go while the spinner held the P";
      wait_sched.push_back(U64Field(e, "sched_ns"));
    }
  }
  // The machine is shared: a round whose C thread ran late has no wait, but
  // most must have one (nominally 40 ms each).
  EXPECT_GE(held, static_cast<int>(rounds.size()) / 2) << "too few rounds waited for the P";
  ASSERT_FALSE(wait_sched.empty());
  const uint64_t smallest_wait = *std::min_element(wait_sched.begin(), wait_sched.end());

  // With the P free, re-entering Go is the fast path: far below any wait
  // (nominally a few µs; 10 ms allows for a descheduled thread).
  for (const Json& e : EventsOfFunc(events, "sleep_ms")) {
    SCOPED_TRACE(e.dump());
    EXPECT_GE(U64Field(e, "c_ns"), quiet_ns);
    EXPECT_LT(U64Field(e, "sched_ns"), 10 * kMsNs);
    EXPECT_LT(U64Field(e, "sched_ns"), smallest_wait / 2);
  }
}

}  // namespace cgotrace::e2e
