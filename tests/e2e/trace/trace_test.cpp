// `cgotrace trace` as a user runs it, in all three targeting modes (launch,
// -p PID, --binary), checked call by call against the fixtures' own truth.
#include <signal.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

constexpr auto kAttachTimeout = 30s;
constexpr auto kRunTimeout = 60s;

// Starts a fixture with -wait-signal and waits until it is ready, i.e. until
// it blocks for SIGUSR1 having made no cgo call of its own yet.
Process StartWaitingFixture(const std::string& bin, const std::vector<std::string>& args,
                            const TempDir& dir, const std::string& name) {
  Process p = Process::Start(Concat({bin, "-wait-signal"}, args), dir.File(name + ".out"),
                             dir.File(name + ".err"));
  auto ready = p.WaitForLine(Stream::kStdout, "READY ", 20s);
  EXPECT_TRUE(ready.has_value()) << "fixture never became ready: " << p.Describe();
  return p;
}

// Starts `cgotrace trace <target_args> --format jsonl --output <events>` and
// waits for its "attached" line.
Process StartAttachedTracer(const std::vector<std::string>& target_args,
                            const std::string& events_path, const TempDir& dir) {
  Process ct = Process::Start(Concat(Concat({CgotraceBin(), "trace"}, target_args),
                                     {"--format", "jsonl", "--output", events_path}),
                              dir.File("cgotrace.out"), dir.File("cgotrace.err"));
  auto attached = ct.WaitForLine(Stream::kStderr, "cgotrace: attached", kAttachTimeout);
  EXPECT_TRUE(attached.has_value()) << "no \"cgotrace: attached\" line: " << ct.Describe();
  return ct;
}

// ---------------------------------------------------------------------------
// Launch mode: `cgotrace trace -- ./app`. Probes are in place before the
// app's first instruction, so every cgo call of the process is reported. Run
// on the plain, stripped (-s -w: no ELF symbols) and PIE builds, each with
// every scenario and as a program that exits within milliseconds (which
// leaves the tracer no time to look at the live process afterwards).

using TraceTest = BpfTest;

struct LaunchCase {
  const char* binary;
  const char* name;
  std::vector<std::string> args;
};

std::string BuildName(const char* binary) {
  std::string name = binary;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const LaunchCase& c, std::ostream* os) { *os << c.binary << " " << c.name; }

class TraceLaunchTest : public BpfTest, public ::testing::WithParamInterface<LaunchCase> {};

TEST_P(TraceLaunchTest, EveryCallMatchesFixtureTruth) {
  const std::string bin = Fixture(GetParam().binary);
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start(Concat({CgotraceBin(), "trace", "--format", "jsonl", "--output",
                                      events_path, "--", bin, "-truth=" + truth_path},
                                     GetParam().args),
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ExitStatus st = ct.WaitOrKill(kRunTimeout);
  ASSERT_TRUE(st.Ok()) << ct.Describe();
  // The app's stdout passes through cgotrace's.
  EXPECT_NE(ct.Stdout().find("DONE"), std::string::npos) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const auto all = ReadEventsOrFail(events_path);
  ExpectWellFormed(all);
  const auto events = ForPid(all, truth->at("pid").get<uint64_t>());
  ASSERT_FALSE(events.empty()) << "no events for the app's pid; all events: " << FuncSummary(all);
  ExpectMatchesCgocallsTruth(*truth, events, Window::kWholeProcess, CommOf(bin));
}

std::vector<LaunchCase> LaunchCases() {
  const std::vector<std::string> quick = {"-scenarios=fast,cstring", "-goroutines=2", "-calls=50",
                                          "-cstrings=3"};
  std::vector<LaunchCase> cases;
  for (const char* bin : {"cgocalls", "cgocalls-stripped", "cgocalls-pie"}) {
    cases.push_back({bin, "AllScenarios", ModestCgocallsArgs()});
    cases.push_back({bin, "ShortLived", quick});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Builds, TraceLaunchTest, ::testing::ValuesIn(LaunchCases()),
                         [](const auto& info) {
                           return BuildName(info.param.binary) + "_" + info.param.name;
                         });

// ---------------------------------------------------------------------------
// Attach mode: `cgotrace trace -p PID` on a running program, which must come
// out of it unharmed.

TEST_F(TraceTest, AttachByPidMatchesFixtureTruthAndLeavesTargetUnharmed) {
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process fixture = StartWaitingFixture(
      Fixture("cgocalls"), Concat({"-truth=" + truth_path, "-linger=1s"}, ModestCgocallsArgs()),
      dir_, "fixture");
  ASSERT_FALSE(HasFailure());
  Process ct = StartAttachedTracer({"-p", std::to_string(fixture.pid())}, events_path, dir_);
  ASSERT_FALSE(HasFailure());

  fixture.Signal(SIGUSR1);
  ExitStatus fst = fixture.WaitOrKill(kRunTimeout);
  EXPECT_TRUE(fst.Ok()) << "traced program harmed: " << fixture.Describe();
  EXPECT_NE(fixture.Stdout().find("DONE"), std::string::npos) << fixture.Describe();
  // Tracing ends by itself once the only target has exited.
  ExitStatus cst = ct.WaitOrKill(kRunTimeout);
  ASSERT_TRUE(cst.Ok()) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  ASSERT_EQ(truth->at("pid").get<pid_t>(), fixture.pid());
  const auto all = ReadEventsOrFail(events_path);
  const auto events = ForPid(all, fixture.pid());
  EXPECT_EQ(events.size(), all.size()) << "events from processes that were not traced";
  ExpectMatchesCgocallsTruth(*truth, events, Window::kAfterSignal, CommOf(Fixture("cgocalls")));
}

TEST_F(TraceTest, AttachToTwoPidsKeepsThemApart) {
  // Same binary twice: goroutine ids collide across processes, so per-pid
  // attribution is what keeps the counts right.
  const std::vector<std::string> args = {"-scenarios=fast,callback,locked", "-goroutines=2",
                                         "-calls=500", "-linger=500ms"};
  Process a = StartWaitingFixture(Fixture("cgocalls"),
                                  Concat({"-truth=" + dir_.File("a.json")}, args), dir_, "a");
  Process b = StartWaitingFixture(Fixture("cgocalls"),
                                  Concat({"-truth=" + dir_.File("b.json")}, args), dir_, "b");
  ASSERT_FALSE(HasFailure());
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = StartAttachedTracer({"-p", std::to_string(a.pid()), "-p", std::to_string(b.pid())},
                                   events_path, dir_);
  ASSERT_FALSE(HasFailure());

  a.Signal(SIGUSR1);
  b.Signal(SIGUSR1);
  EXPECT_TRUE(a.WaitOrKill(kRunTimeout).Ok()) << a.Describe();
  EXPECT_TRUE(b.WaitOrKill(kRunTimeout).Ok()) << b.Describe();
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok())
      << "tracing must end when both targets exit; " << ct.Describe();

  const auto all = ReadEventsOrFail(events_path);
  for (const auto& [p, name] : {std::pair{&a, "a"}, std::pair{&b, "b"}}) {
    SCOPED_TRACE(std::string("fixture ") + name);
    std::string error;
    auto truth = ReadTruth(dir_.File(std::string(name) + ".json"), &error);
    ASSERT_TRUE(truth) << error;
    ExpectMatchesCgocallsTruth(*truth, ForPid(all, p->pid()), Window::kAfterSignal,
                               CommOf(Fixture("cgocalls")));
  }
}

// ---------------------------------------------------------------------------
// --binary: every process running the binary, including ones started after
// cgotrace attached. There is no target to wait for, so it runs until SIGINT.
// The program started later is short-lived, on both a plain and a PIE build.

class TraceBinaryTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(TraceBinaryTest, TracesProcessesStartedLater) {
  const std::string bin = Fixture(GetParam());
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = StartAttachedTracer({"--binary", bin}, events_path, dir_);
  ASSERT_FALSE(HasFailure());

  const std::string truth_path = dir_.File("truth.json");
  Process fixture =
      Process::Start({bin, "-truth=" + truth_path, "-scenarios=fast,callback,cstring",
                      "-goroutines=2", "-calls=50", "-callback-calls=2", "-cstrings=3"},
                     dir_.File("fixture.out"), dir_.File("fixture.err"));
  EXPECT_TRUE(fixture.WaitOrKill(kRunTimeout).Ok()) << fixture.Describe();
  ASSERT_TRUE(ct.Running()) << "cgotrace --binary must keep running: " << ct.Describe();
  ct.Signal(SIGINT);
  ASSERT_TRUE(ct.WaitOrKill(20s).Ok()) << "SIGINT must detach cleanly: " << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  ExpectMatchesCgocallsTruth(*truth, ForPid(ReadEventsOrFail(events_path), fixture.pid()),
                             Window::kWholeProcess, CommOf(bin));
}

INSTANTIATE_TEST_SUITE_P(Builds, TraceBinaryTest, ::testing::Values("cgocalls", "cgocalls-pie"),
                         [](const auto& info) { return BuildName(info.param); });

// ---------------------------------------------------------------------------
// A real cgo library: github.com/mattn/go-sqlite3.

bool AnyFuncContains(const std::vector<Json>& events, const std::string& part) {
  for (const auto& e : events) {
    if (e.value("func", "").find(part) != std::string::npos) return true;
  }
  return false;
}

TEST_F(TraceTest, SqliteLaunchReportsEveryCgoCall) {
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start({CgotraceBin(), "trace", "--format", "jsonl", "--output", events_path,
                               "--", Fixture("sqlite"), "-truth=" + truth_path, "-rows=200"},
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const auto events = ForPid(ReadEventsOrFail(events_path), truth->at("pid").get<uint64_t>());
  SCOPED_TRACE("events by func: " + FuncSummary(events));
  ExpectWellFormed(events);
  const int64_t before = truth->at("num_cgo_call_before").get<int64_t>();
  const int64_t after = truth->at("num_cgo_call_after").get<int64_t>();
  const int64_t calls = CountKind(events, "cgo_call");
  EXPECT_GE(calls, after - before);
  EXPECT_EQ(calls, after) << "every cgo call since the first instruction";
  // go-sqlite3 calls C helpers named _sqlite3_<api>_... and sqlite3_<api>.
  EXPECT_TRUE(AnyFuncContains(events, "sqlite3_open"));
  EXPECT_TRUE(AnyFuncContains(events, "sqlite3_step"));
  EXPECT_TRUE(AnyFuncContains(events, "sqlite3_finalize"));
}

TEST_F(TraceTest, SqliteAttachCountsExactlyTheCallsAfterTheSignal) {
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process fixture = StartWaitingFixture(
      Fixture("sqlite"), {"-truth=" + truth_path, "-rows=200", "-linger=500ms"}, dir_, "fixture");
  ASSERT_FALSE(HasFailure());
  Process ct = StartAttachedTracer({"-p", std::to_string(fixture.pid())}, events_path, dir_);
  ASSERT_FALSE(HasFailure());
  fixture.Signal(SIGUSR1);
  EXPECT_TRUE(fixture.WaitOrKill(kRunTimeout).Ok()) << fixture.Describe();
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const auto events = ForPid(ReadEventsOrFail(events_path), fixture.pid());
  SCOPED_TRACE("events by func: " + FuncSummary(events));
  ExpectWellFormed(events);
  // The fixture makes no cgo call outside its window once signalled.
  EXPECT_EQ(CountKind(events, "cgo_call"), truth->at("num_cgo_call_after").get<int64_t>() -
                                               truth->at("num_cgo_call_before").get<int64_t>());
  EXPECT_TRUE(AnyFuncContains(events, "sqlite3_step"));
}

}  // namespace
}  // namespace cgotrace::e2e
