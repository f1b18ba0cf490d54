// --breakdown: each cgo call split into time in C (c_ns) and time re-entering
// Go (sched_ns), checked against the pwait fixture's own clocks (the checks
// and what they rest on: tests/e2e/breakdown_checks.h).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "breakdown_checks.h"
#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using BreakdownTest = BpfTest;

constexpr auto kRunTimeout = 90s;
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

TEST_F(BreakdownTest, WaitForThePShowsAsSchedTimeAndOnlyThere) {
  Traced run = TracePwait(dir_, {"--breakdown"});
  ASSERT_FALSE(run.events.empty());
  ExpectWellFormed(run.events);
  ExpectExactPwaitCounts(run.truth, run.events);
  ExpectPwaitBreakdown(run.truth, run.events);
}

TEST_F(BreakdownTest, DefaultModeMeasuresCTimeOnlyWithTheSameCounts) {
  Traced run = TracePwait(dir_, {});
  ASSERT_FALSE(run.events.empty());
  ExpectWellFormed(run.events);
  ExpectExactPwaitCounts(run.truth, run.events);
  const uint64_t sleep_ns = run.truth.at("sleep_ms").get<uint64_t>() * kMsNs;
  for (const Json& e : run.events) {
    SCOPED_TRACE(e.dump());
    // The exact-mode end is where C returned: duration is the time in C.
    EXPECT_EQ(U64Field(e, "c_ns"), U64Field(e, "duration_ns"));
    EXPECT_FALSE(e.contains("sched_ns")) << "re-entry is measured only with --breakdown";
  }
  for (const Json& e : EventsOfFunc(run.events, "sleep_then_stop")) {
    EXPECT_GE(U64Field(e, "c_ns"), sleep_ns);
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
  // Counted in the kernel, split included: every call of the report, and no
  // record through the ring buffer.
  const uint64_t counted = report->at("events").get<uint64_t>();
  const std::string n = std::to_string(counted);
  EXPECT_NE(stat.err.find("cgotrace: " + n + " events, 0 lost ("), std::string::npos) << stat.err;
  EXPECT_NE(stat.err.find(n + " counted in the kernel, 0 through the ring buffer)"),
            std::string::npos)
      << stat.err;
  uint64_t in_rows = 0;
  for (const char* table : {"calls", "callbacks"}) {
    for (const Json& row : report->at(table)) in_rows += row.at("count").get<uint64_t>();
  }
  EXPECT_EQ(in_rows, counted);
  const uint64_t rounds = truth->at("rounds").size();
  bool seen = false;
  for (const Json& row : report->at("calls")) {
    SCOPED_TRACE(row.dump());
    const std::string func = row.at("key");
    if (RuntimeInternalCall(func)) continue;
    ASSERT_TRUE(truth->at("calls").contains(func));
    EXPECT_EQ(row.at("count").get<int64_t>(), truth->at("calls").at(func).get<int64_t>());
    EXPECT_EQ(row.at("sched_count"), row.at("count")) << "every call's re-entry measured";
    EXPECT_EQ(row.at("c_total_ns").get<uint64_t>() + row.at("sched_total_ns").get<uint64_t>(),
              row.at("total_ns").get<uint64_t>());
    if (func == "sleep_then_stop") {
      seen = true;
      EXPECT_EQ(row.at("sched_count").get<uint64_t>(), rounds);
      EXPECT_GE(row.at("sched_max_ns").get<uint64_t>(), 20 * kMsNs);
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
    EXPECT_GE(row.at("sched_max_ns").get<uint64_t>(), 20 * kMsNs);
  }
  EXPECT_TRUE(seen);
  RunResult text = RunCommand({CgotraceBin(), "report", "-i", rec}, dir_);
  ASSERT_TRUE(text.status.Ok()) << text.Describe();
  EXPECT_NE(text.out.find("ReEntryMax"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace cgotrace::e2e
