// --breakdown: each cgo call split into time in C (c_ns) and time re-entering
// Go (sched_ns), checked against the pwait fixture's own clocks.
//
// pwait (tests/fixtures/pwait) runs with GOMAXPROCS=1 and async preemption
// off. In each "round" its main goroutine sleeps in C.sleep_then_stop while a
// spinner goroutine takes the P and keeps it, in a loop without preemption
// points, until a C thread releases it at stopped_ns (CLOCK_MONOTONIC, read
// by C). Where the spinner was spinning before the sleep ended (returned_ns),
// the call cannot get back into Go before stopped_ns: the event's re-entry
// end (start_ns + duration_ns) must be >= stopped_ns, and its C end
// (start_ns + c_ns) >= returned_ns. Both are causal bounds from the fixture's
// own timestamps (the same clock as bpf_ktime_get_ns), with no slack. The
// quiet calls afterwards have a free P: their sched_ns stays small.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using BreakdownTest = BpfTest;

constexpr auto kRunTimeout = 90s;
constexpr uint64_t kMs = 1000 * 1000;

std::vector<Json> OfFunc(const std::vector<Json>& events, const std::string& func) {
  std::vector<Json> out;
  for (const Json& e : events) {
    if (e.value("func", "") == func) out.push_back(e);
  }
  return out;
}

uint64_t U(const Json& e, const char* key) { return e.value(key, uint64_t{0}); }

struct Traced {
  Json truth;
  std::vector<Json> events;
};

Traced TracePwait(const TempDir& dir, std::vector<std::string> flags) {
  Traced run;
  const std::string truth_path = dir.File("truth.json");
  const std::string events_path = dir.File("events.jsonl");
  std::vector<std::string> argv = {CgotraceBin(), "trace", "--format", "jsonl", "-o", events_path};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"--", Fixture("pwait"), "-truth=" + truth_path});
  Process ct = Process::Start(argv, dir.File("cgotrace.out"), dir.File("cgotrace.err"));
  EXPECT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  EXPECT_TRUE(truth) << error;
  if (!truth) return run;
  run.truth = *truth;
  run.events = ForPid(ReadEventsOrFail(events_path), truth->at("pid").get<uint64_t>());
  return run;
}

// The runtime's own calls through runtime.cgocall (x_cgo_notify_runtime_init_done
// at start, once per exec'd image) are not in the fixture's truth.
bool RuntimeInternal(const std::string& func) {
  return func.starts_with("_cgo_") || func.starts_with("x_cgo_");
}

// Every call the fixture made, exactly once per C function.
void ExpectExactCounts(const Traced& run) {
  int64_t total = 0;
  for (const auto& [func, n] : run.truth.at("calls").items()) {
    EXPECT_EQ(static_cast<int64_t>(OfFunc(run.events, func).size()), n.get<int64_t>()) << func;
    total += n.get<int64_t>();
  }
  int64_t internal = 0;
  for (const Json& e : run.events) {
    internal += RuntimeInternal(e.value("func", "")) ? 1 : 0;
  }
  EXPECT_EQ(CountKind(run.events, "cgo_call"), total + internal) << FuncSummary(run.events);
}

TEST_F(BreakdownTest, WaitForThePShowsAsSchedTimeAndOnlyThere) {
  Traced run = TracePwait(dir_, {"--breakdown"});
  ASSERT_FALSE(run.events.empty());
  ExpectWellFormed(run.events);
  ExpectExactCounts(run);
  for (const Json& e : run.events) {
    SCOPED_TRACE(e.dump());
    ASSERT_GT(U(e, "c_ns"), 0u);
    ASSERT_GT(U(e, "sched_ns"), 0u);
    EXPECT_EQ(U(e, "c_ns") + U(e, "sched_ns"), U(e, "duration_ns"));
  }

  const uint64_t sleep_ns = run.truth.at("sleep_ms").get<uint64_t>() * kMs;
  const uint64_t quiet_ns = run.truth.at("quiet_ms").get<uint64_t>() * kMs;
  // Rounds in completion order, as the calls are (one goroutine makes them).
  const std::vector<Json> waits = OfFunc(run.events, "sleep_then_stop");
  const Json& rounds = run.truth.at("rounds");
  ASSERT_EQ(waits.size(), rounds.size());
  int held = 0;
  std::vector<uint64_t> wait_sched;
  for (size_t i = 0; i < waits.size(); ++i) {
    const Json& e = waits[i];
    const Json& r = rounds[i];
    SCOPED_TRACE(e.dump() + " round " + r.dump());
    EXPECT_EQ(U(e, "goid"), run.truth.at("waiter_goid").get<uint64_t>());
    EXPECT_GE(U(e, "c_ns"), sleep_ns) << "the C sleep is inside c_ns";
    const uint64_t c_end = U(e, "start_ns") + U(e, "c_ns");
    const uint64_t back_in_go = U(e, "start_ns") + U(e, "duration_ns");
    EXPECT_GE(c_end, U(r, "returned_ns")) << "C end after the sleep ended";
    if (U(r, "spinning_ns") < U(r, "returned_ns") && U(r, "returned_ns") < U(r, "stopped_ns")) {
      // The spinner held the only P when C returned: no way back into Go
      // before it was released.
      ++held;
      EXPECT_GE(back_in_go, U(r, "stopped_ns")) << "re-entered Go while the spinner held the P";
      wait_sched.push_back(U(e, "sched_ns"));
    }
  }
  // The machine is shared: a round whose C thread ran late has no wait, but
  // most must have one (nominally 40 ms each).
  EXPECT_GE(held, static_cast<int>(rounds.size()) / 2) << "too few rounds waited for the P";
  ASSERT_FALSE(wait_sched.empty());
  const uint64_t smallest_wait = *std::min_element(wait_sched.begin(), wait_sched.end());

  // With the P free, re-entering Go is the fast path: far below any wait
  // (nominally a few µs; 10 ms allows for a descheduled thread).
  for (const Json& e : OfFunc(run.events, "sleep_ms")) {
    SCOPED_TRACE(e.dump());
    EXPECT_GE(U(e, "c_ns"), quiet_ns);
    EXPECT_LT(U(e, "sched_ns"), 10 * kMs);
    EXPECT_LT(U(e, "sched_ns"), smallest_wait / 2);
  }
}

TEST_F(BreakdownTest, DefaultModeMeasuresCTimeOnlyWithTheSameCounts) {
  Traced run = TracePwait(dir_, {});
  ASSERT_FALSE(run.events.empty());
  ExpectWellFormed(run.events);
  ExpectExactCounts(run);
  const uint64_t sleep_ns = run.truth.at("sleep_ms").get<uint64_t>() * kMs;
  for (const Json& e : run.events) {
    SCOPED_TRACE(e.dump());
    // The exact-mode end is where C returned: duration is the time in C.
    EXPECT_EQ(U(e, "c_ns"), U(e, "duration_ns"));
    EXPECT_FALSE(e.contains("sched_ns")) << "re-entry is measured only with --breakdown";
  }
  for (const Json& e : OfFunc(run.events, "sleep_then_stop")) {
    EXPECT_GE(U(e, "c_ns"), sleep_ns);
  }
}

// stat and record/report carry the split per function: every waiting call
// has its re-entry counted, the longest re-entry is a wait (>= half the
// nominal 40 ms the spinner keeps the P after the sleep), and the counts stay
// exact.
TEST_F(BreakdownTest, StatAndReportSplitEachFunction) {
  const std::string truth_path = dir_.File("truth.json");
  RunResult stat = RunCommand({CgotraceBin(), "stat", "--breakdown", "--format", "json", "--",
                               Fixture("pwait"), "-truth=" + truth_path},
                              dir_, kRunTimeout);
  ASSERT_TRUE(stat.status.Ok()) << stat.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const size_t brace = stat.out.find("\n{");
  ASSERT_NE(brace, std::string::npos) << stat.out;
  auto report = ParseJson(std::string_view(stat.out).substr(brace), &error);
  ASSERT_TRUE(report) << error;
  const uint64_t rounds = truth->at("rounds").size();
  bool seen = false;
  for (const Json& row : report->at("calls")) {
    SCOPED_TRACE(row.dump());
    const std::string func = row.at("key");
    if (RuntimeInternal(func)) continue;
    ASSERT_TRUE(truth->at("calls").contains(func));
    EXPECT_EQ(row.at("count").get<int64_t>(), truth->at("calls").at(func).get<int64_t>());
    EXPECT_EQ(row.at("sched_count"), row.at("count")) << "every call's re-entry measured";
    EXPECT_EQ(row.at("c_total_ns").get<uint64_t>() + row.at("sched_total_ns").get<uint64_t>(),
              row.at("total_ns").get<uint64_t>());
    if (func == "sleep_then_stop") {
      seen = true;
      EXPECT_EQ(row.at("sched_count").get<uint64_t>(), rounds);
      EXPECT_GE(row.at("sched_max_ns").get<uint64_t>(), 20 * kMs);
    }
  }
  EXPECT_TRUE(seen);

  const std::string rec = dir_.File("pwait.cgotrace");
  RunResult record = RunCommand({CgotraceBin(), "record", "--breakdown", "-o", rec, "--",
                                 Fixture("pwait"), "-truth=" + dir_.File("truth2.json")},
                                dir_, kRunTimeout);
  ASSERT_TRUE(record.status.Ok()) << record.Describe();
  RunResult j = RunCommand({CgotraceBin(), "report", "-i", rec, "--format", "json"}, dir_);
  ASSERT_TRUE(j.status.Ok()) << j.Describe();
  auto rep = ParseJson(j.out, &error);
  ASSERT_TRUE(rep) << error;
  seen = false;
  for (const Json& row : rep->at("calls")) {
    SCOPED_TRACE(row.dump());
    if (row.at("func") != "sleep_then_stop") continue;
    seen = true;
    EXPECT_EQ(row.at("sched_count").get<uint64_t>(), rounds);
    EXPECT_EQ(row.at("c_count").get<uint64_t>(), rounds);
    EXPECT_GE(row.at("sched_max_ns").get<uint64_t>(), 20 * kMs);
  }
  EXPECT_TRUE(seen);
  RunResult text = RunCommand({CgotraceBin(), "report", "-i", rec}, dir_);
  ASSERT_TRUE(text.status.Ok()) << text.Describe();
  EXPECT_NE(text.out.find("ReEntryMax"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace cgotrace::e2e
