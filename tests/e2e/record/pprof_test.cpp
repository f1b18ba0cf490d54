// `cgotrace report --format pprof` read by the real `go tool pprof`: exact
// call counts per C function against the fixture's truth, the fixture's Go
// callers with file:line in -traces, on the plain, stripped and PIE builds;
// and a `record --breakdown` of the pwait fixture, whose c_time and
// sched_time sample types hold its known sleeps and its waits for the P.
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"
#include "record_helpers.h"

namespace cgotrace::e2e {
namespace {

class PprofReportTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(PprofReportTest, GoToolPprofShowsExactCountsAndGoCallers) {
  const Recorded run =
      RecordFixture(dir_, {"--call-stacks"}, Fixture(GetParam()), ModestCgocallsArgs());
  ASSERT_FALSE(run.truth.is_null());
  const Json* truth = &run.truth;
  const std::string pb = dir_.File("cgo.pb.gz");
  ASSERT_TRUE(ReportTo(dir_, run.path, "pprof", pb));

  // The C functions' calls of the whole process (the fixture's goroutines
  // and the runtime's own, e.g. x_cgo_notify_runtime_init_done).
  ExpectPprofCalls(dir_, pb, TruthCallsByFunc(*truth));

  // -traces: each C function over the fixture's Go caller.
  RunResult traces = RunCommand({CGOTRACE_GO, "tool", "pprof", "-traces", pb}, dir_);
  ASSERT_TRUE(traces.status.Ok()) << traces.Describe();
  for (const char* chain :
       {"fast_add\n             main._Cfunc_fast_add\n             main.runFast\n",
        "goCallback\n             call_back_n\n             main._Cfunc_call_back_n\n"
        "             main.runCallback\n",
        "sleep_us\n             main._Cfunc_sleep_us\n             main.runBlocking\n"}) {
    EXPECT_NE(traces.out.find(chain), std::string::npos) << chain << "\n" << traces.out;
  }
  EXPECT_NE(traces.out.find("goid:"), std::string::npos);
  EXPECT_NE(traces.out.find("thread:"), std::string::npos);

  // -lines: the call site's file:line from pclntab, the line of the fixture's
  // source that calls C.fast_add.
  RunResult lines = RunCommand({CGOTRACE_GO, "tool", "pprof", "-sample_index=calls", "-lines",
                                "-top", "-nodefraction=0", pb},
                               dir_);
  ASSERT_TRUE(lines.status.Ok()) << lines.Describe();
  const std::string source =
      ReadFile(std::string(CGOTRACE_SOURCE_DIR) + "/tests/fixtures/cgocalls/main.go");
  const size_t at = source.find("C.fast_add(C.int(i), 1)");
  ASSERT_NE(at, std::string::npos);
  const long line = std::count(source.begin(), source.begin() + static_cast<long>(at), '\n') + 1;
  EXPECT_NE(lines.out.find("main.runFast " + std::string(CGOTRACE_SOURCE_DIR) +
                           "/tests/fixtures/cgocalls/main.go:" + std::to_string(line) + "\n"),
            std::string::npos)
      << lines.out;
}

using PprofBreakdownTest = BpfTest;

constexpr uint64_t kMs = 1000 * 1000;

// pwait (see tests/e2e/trace/breakdown_test.cpp) sleeps in C in each round
// while a spinner takes the only P; where the spinner was spinning before
// the sleep ended, the call cannot re-enter Go before the fixture's C thread
// stops it. Its truth has every round's clock readings (CLOCK_MONOTONIC).
TEST_F(PprofBreakdownTest, SchedTimeIsTheWaitForThePAndCTimeTheSleeps) {
  const Recorded run = RecordFixture(dir_, {"--breakdown", "--call-stacks"}, Fixture("pwait"), {});
  ASSERT_FALSE(run.truth.is_null());
  const Json* truth = &run.truth;
  const std::string rec = run.path;
  const std::string pb = dir_.File("cgo.pb.gz");
  ASSERT_TRUE(ReportTo(dir_, rec, "pprof", pb));
  RunResult plain = RunCommand({CGOTRACE_GO, "tool", "pprof", "-top", pb}, dir_);
  ASSERT_TRUE(plain.status.Ok()) << plain.Describe();
  EXPECT_NE(plain.out.find("\nType: time\n"), std::string::npos) << "default sample type\n"
                                                                 << plain.out;

  const auto calls = PprofFlat(dir_, pb, "calls");
  const auto time = PprofFlat(dir_, pb, "time");
  const auto c_time = PprofFlat(dir_, pb, "c_time");
  const auto sched = PprofFlat(dir_, pb, "sched_time");
  auto at = [](const std::map<std::string, uint64_t>& m, const std::string& k) {
    return m.count(k) ? m.at(k) : 0;
  };
  // The same split as the recording's own table, to the nanosecond.
  RunResult j = RunCommand({CgotraceBin(), "report", "-i", rec, "--format", "json"}, dir_);
  ASSERT_TRUE(j.status.Ok()) << j.Describe();
  std::string error;
  auto table = ParseJson(j.out, &error);
  ASSERT_TRUE(table) << error;
  std::map<std::string, Json> rows;
  for (const Json& row : table->at("calls")) rows[row.at("func")] = row;
  for (const auto& [func, n] : truth->at("calls").items()) {
    SCOPED_TRACE(func);
    EXPECT_EQ(at(calls, func), n.get<uint64_t>());
    EXPECT_EQ(at(c_time, func) + at(sched, func), at(time, func));
    ASSERT_TRUE(rows.count(func));
    EXPECT_EQ(at(c_time, func), rows[func].at("c_total_ns").get<uint64_t>());
    EXPECT_EQ(at(sched, func), rows[func].at("sched_total_ns").get<uint64_t>());
  }

  const uint64_t sleep_ns = truth->at("sleep_ms").get<uint64_t>() * kMs;
  const uint64_t quiet_ns = truth->at("quiet_ms").get<uint64_t>() * kMs;
  const Json& rounds = truth->at("rounds");
  const uint64_t quiet_calls = truth->at("calls").at("sleep_ms").get<uint64_t>();
  // Known sleeps are in C.
  EXPECT_GE(at(c_time, "sleep_then_stop"), rounds.size() * sleep_ns);
  EXPECT_GE(at(c_time, "sleep_ms"), quiet_calls * quiet_ns);
  // Where the spinner held the P when C returned, the call ended no earlier
  // than the stop, and began no later than a sleep before C returned.
  uint64_t held = 0, held_ns = 0, floor_ns = 0;
  for (const Json& round : rounds) {
    const uint64_t spinning = round.at("spinning_ns"), returned = round.at("returned_ns"),
                   stopped = round.at("stopped_ns");
    floor_ns += sleep_ns;
    if (spinning < returned && returned < stopped) {
      ++held;
      held_ns += stopped - returned;
      floor_ns += stopped - returned;
    }
  }
  EXPECT_GE(at(time, "sleep_then_stop"), floor_ns);
  // The machine is shared: a round whose C thread ran late has no wait, but
  // most have one (nominally 40 ms), and most of it is re-entry time.
  EXPECT_GE(held, rounds.size() / 2) << "too few rounds waited for the P";
  EXPECT_GE(at(sched, "sleep_then_stop"), held_ns / 2);
  // With the P free, re-entering Go takes microseconds (10 ms per call
  // allows for a descheduled thread).
  for (const auto& [func, n] : truth->at("calls").items()) {
    if (func == "sleep_then_stop") continue;
    EXPECT_LT(at(sched, func), n.get<uint64_t>() * 10 * kMs) << func;
  }
  EXPECT_LT(at(sched, "sleep_ms"), at(sched, "sleep_then_stop") / 4);
}

INSTANTIATE_TEST_SUITE_P(Builds, PprofReportTest,
                         ::testing::Values("cgocalls", "cgocalls-stripped", "cgocalls-pie"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace cgotrace::e2e
