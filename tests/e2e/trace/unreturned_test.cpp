// Calls that never see their return (issue 12, items 4 and 6): a process
// killed or exiting with goroutines in C, a Go panic unwinding through C.
// The `threads_in_cgo` gauge must come back down, and every such call must
// be counted by cause, exactly, like lost events, never silent.
#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using UnreturnedTest = BpfTest;

constexpr int kBlocked = 50;

std::string InCgoKey(const std::string& binary) {
  return R"(cgotrace_threads_in_cgo{binary=")" + binary + R"("})";
}

std::string UnreturnedKey(const std::string& cause) {
  return R"(cgotrace_calls_unreturned_total{cause=")" + cause + R"("})";
}

// The exporter follows the binary (an attachment that outlives every one of
// its processes, so the gauge is not reset by releasing the binary): 50
// goroutines block in C, then the process dies with all of them still there.
// `end` ends it: SIGKILL, or SIGUSR1 on which the fixture calls os.Exit(0).
void KillInsideC(const TempDir& dir, const RunningExporter& ex, const std::string& app,
                 const std::string& name, int round, bool os_exit) {
  SCOPED_TRACE(os_exit ? "os.Exit" : "SIGKILL");
  Process p = Process::Start({app, "-mode=block", "-blocked=" + std::to_string(kBlocked)},
                             dir.File(name + ".out"), dir.File(name + ".err"));
  ASSERT_TRUE(p.WaitForLine(Stream::kStdout, "READY", 20s)) << p.Describe();
  std::map<std::string, double> m;
  EXPECT_TRUE(WaitForSample(dir, ex, InCgoKey(name), kBlocked, 10s, &m))
      << "the gauge must count the blocked threads first: " << SampleOr(m, InCgoKey(name), -1);
  if (os_exit) {
    p.Signal(SIGUSR1);
    ExitStatus st = p.WaitOrKill(20s);
    EXPECT_TRUE(st.Ok()) << p.Describe();
  } else {
    p.Signal(SIGKILL);
    ExitStatus st = p.WaitOrKill(20s);
    EXPECT_EQ(st.signal, SIGKILL) << p.Describe();
  }
  WaitUntil(
      [&] {
        m = Scrape(dir, ex);
        return SampleOr(m, InCgoKey(name), -1) == 0 &&
               SampleOr(m, UnreturnedKey("exit"), -1) == kBlocked * round;
      },
      10s);
  EXPECT_EQ(SampleOr(m, InCgoKey(name), -1), 0)
      << "threads_in_cgo must come down when the process dies in C; " << ex.proc.Describe();
  EXPECT_EQ(SampleOr(m, UnreturnedKey("exit"), -1), kBlocked * round);
  EXPECT_EQ(SampleOr(m, UnreturnedKey("panic"), -1), 0);
  EXPECT_EQ(SampleOr(m, UnreturnedKey("evicted"), -1), 0);
}

TEST_F(UnreturnedTest, ThreadsInCgoComesDownWhenAProcessDiesInsideC) {
  const std::string app = PrivateCopy(dir_, "unreturned", "dies-in-c");
  RunningExporter ex = StartExporter(dir_, "exporter", {"--binary", app, "--rescan", "200ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for processes of", 5s))
      << ex.proc.Describe();
  KillInsideC(dir_, ex, app, "dies-in-c", 1, /*os_exit=*/false);
  KillInsideC(dir_, ex, app, "dies-in-c", 2, /*os_exit=*/true);
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

// N calls of which K are cut off by a panic in their callback that unwinds
// through C and is recovered above the cgo call: N-K calls and callbacks
// complete, K of each never return, and stat says so exactly. All on one
// locked thread, so each new call finds the frames the last panic abandoned
// on it. `stat_args` choose how stat counts.
void ExpectStatCountsPanics(const TempDir& dir, const std::vector<std::string>& stat_args) {
  const std::string truth_path = dir.File("truth.json");
  RunResult r = RunCommand(Concat(Concat({CgotraceBin(), "stat", "--format", "json"}, stat_args),
                                  {"--", Fixture("unreturned"), "-mode=panic", "-calls=600",
                                   "-panic-every=6", "-truth", truth_path}),
                           dir, 60s);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const int64_t completed = truth->at("completed").get<int64_t>();
  const int64_t panicked = truth->at("panicked").get<int64_t>();
  ASSERT_EQ(completed + panicked, 600);
  ASSERT_EQ(panicked, 100);

  size_t pos = r.out.find("\n{");
  ASSERT_NE(pos, std::string::npos) << r.Describe();
  auto report = ParseJson(std::string_view(r.out).substr(pos + 1), &error);
  ASSERT_TRUE(report) << error;
  SCOPED_TRACE(report->dump());
  auto count_of = [&](const char* table, const std::string& key) -> int64_t {
    for (const auto& row : report->value(table, Json::array())) {
      if (row.value("key", "") == key) return row.value("count", int64_t{0});
    }
    return -1;
  };
  EXPECT_EQ(count_of("calls", "call_back_once"), completed);
  EXPECT_EQ(count_of("callbacks", "goMaybePanic"), completed);
  EXPECT_EQ(report->value("lost", int64_t{-1}), 0);
  EXPECT_EQ(report->value("unreturned", int64_t{-1}), panicked);
  const std::string causes =
      std::to_string(panicked) + " calls without a return [0 cut off by a process exit, " +
      std::to_string(panicked) + " by a panic through C, 0 evicted, 0 still in C]";
  EXPECT_NE(r.err.find(causes), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(panicked) + " callbacks without a return"), std::string::npos)
      << r.err;
}

// --interval: the per-call event path (trace, record and the exporter take
// it too), where every start knows its goroutine's stack depth.
TEST_F(UnreturnedTest, StatCountsCallsCutOffByAPanicThroughC) {
  ExpectStatCountsPanics(dir_, {"--interval", "10m"});
}

// Counting in the kernel (stat by function, the default): a start reads the
// depth only where it must tell nesting from a panic (docs/architecture.md).
// Before, the abandoned frames piled up on the thread and overwrote each
// other: 585 calls counted unreturned for these 100.
TEST_F(UnreturnedTest, StatCountingInTheKernelCountsCallsCutOffByAPanicThroughC) {
  ExpectStatCountsPanics(dir_, {});
}

// The same, as the exporter shows it: calls counted once they complete, the
// cut-off ones by cause, the gauge back at 0.
TEST_F(UnreturnedTest, ExporterCountsCallsCutOffByAPanicThroughC) {
  const std::string app = PrivateCopy(dir_, "unreturned", "panics-app");
  RunningExporter ex = StartExporter(dir_, "exporter", {"--binary", app, "--rescan", "200ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for processes of", 5s))
      << ex.proc.Describe();
  const std::string truth_path = dir_.File("truth.json");
  Process p =
      Process::Start({app, "-mode=panic", "-calls=300", "-panic-every=5", "-truth", truth_path},
                     dir_.File("app.out"), dir_.File("app.err"));
  ASSERT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const double completed = truth->at("completed").get<double>();
  const double panicked = truth->at("panicked").get<double>();
  const std::string calls_key =
      R"(cgotrace_cgo_call_duration_seconds_count{binary="panics-app",function="call_back_once"})";
  std::map<std::string, double> m;
  WaitUntil(
      [&] {
        m = Scrape(dir_, ex);
        return SampleOr(m, calls_key, -1) == completed &&
               SampleOr(m, UnreturnedKey("panic"), -1) == panicked;
      },
      10s);
  EXPECT_EQ(SampleOr(m, calls_key, -1), completed);
  EXPECT_EQ(SampleOr(m, UnreturnedKey("panic"), -1), panicked);
  EXPECT_EQ(SampleOr(m, UnreturnedKey("exit"), -1), 0);
  EXPECT_EQ(SampleOr(m, "cgotrace_callbacks_unreturned_total", -1), panicked);
  EXPECT_EQ(SampleOr(m, InCgoKey("panics-app"), -1), 0);
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
