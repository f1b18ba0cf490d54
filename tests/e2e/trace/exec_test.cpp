// A launched target that replaces its program (execve) (issue 12, item 7):
// tracing followed the first program only and then went silent. The new
// program is followed when it is a Go program with cgo; otherwise one line
// says it was lost and why.
#include <signal.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExecTest = BpfTest;

int64_t RowCount(const Json& report, const char* table, const std::string& key) {
  for (const auto& row : report.value(table, Json::array())) {
    if (row.value("key", "") == key) return row.value("count", int64_t{0});
  }
  return -1;
}

// unreturned makes 100 calls, then executes cgocalls, which waits for
// SIGUSR1 (so the test knows the new program is followed before it calls C)
// and makes its own calls: stat counts the calls of both programs exactly.
TEST_F(ExecTest, LaunchedTargetIsFollowedIntoTheProgramItExecutes) {
  const std::string truth_path = dir_.File("truth.json");
  Process stat = Process::Start(
      {CgotraceBin(), "stat", "--format", "json", "--", Fixture("unreturned"), "-mode=exec",
       "-calls=100", "-exec", Fixture("cgocalls"), "--", "-wait-signal", "-scenarios=fast",
       "-goroutines=2", "-calls=300", "-truth", truth_path},
      dir_.File("stat.out"), dir_.File("stat.err"));
  auto ready = stat.WaitForLine(Stream::kStdout, "READY ", 30s);
  ASSERT_TRUE(ready) << stat.Describe();
  const pid_t pid = std::stoi(ready->substr(6));
  ASSERT_TRUE(stat.WaitForLine(Stream::kStderr,
                               "cgotrace: PID " + std::to_string(pid) + " executed " +
                                   Fixture("cgocalls") + "; following it",
                               10s))
      << stat.Describe();
  ASSERT_EQ(kill(pid, SIGUSR1), 0);
  ExitStatus st = stat.WaitOrKill(60s);
  ASSERT_TRUE(st.Ok()) << stat.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const std::string out = stat.Stdout();
  size_t pos = out.find("\n{");
  ASSERT_NE(pos, std::string::npos) << stat.Describe();
  auto report = ParseJson(std::string_view(out).substr(pos + 1), &error);
  ASSERT_TRUE(report) << error;
  SCOPED_TRACE(report->dump());
  EXPECT_EQ(RowCount(*report, "calls", "call_back_once"), 100) << "the first program's calls";
  EXPECT_EQ(RowCount(*report, "calls", "fast_add"), TruthCalls(*truth, "fast_add"))
      << "every call of the program it executed";
  EXPECT_EQ(report->value("lost", int64_t{-1}), 0);
}

// The new program cannot be traced (no cgo): one line says so, and stat
// still ends with the target and exits 0.
TEST_F(ExecTest, ExecOfAProgramWithoutCgoIsSaidToBeLost) {
  RunResult r = RunCommand({CgotraceBin(), "stat", "--", Fixture("unreturned"), "-mode=exec",
                            "-calls=20", "-exec", Fixture("nocgo"), "--", "-linger=1s"},
                           dir_, 60s);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  EXPECT_NE(r.err.find(" executed " + Fixture("nocgo") + ", which cannot be traced: "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cgo"), std::string::npos) << "the reason: " << r.err;
}

// The exporter, tracing a process by -p or --all-go, follows it into the
// program it executes (issue 12): before, the old program's probes stayed
// and the new program's calls were never counted. A private copy of each
// fixture gives the series their own binary label.
class ExporterExecTest : public BpfTest {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    first_ = PrivateCopy(dir_, "unreturned", "exec-first");
    second_ = PrivateCopy(dir_, "cgocalls", "exec-second");
  }

  // `launcher` (e.g. nsenter into the exporter's PID namespace, may be
  // empty) starts the first program, which waits for SIGUSR2, makes 100
  // calls, then executes the second, which waits for SIGUSR1 and makes its
  // own calls. `attach` returns once the exporter traces the first program
  // (its PID as the exporter sees it). Every call of both is counted.
  void ExpectFollowed(const RunningExporter& ex, const std::vector<std::string>& launcher,
                      const std::function<void(const std::string&)>& attach) {
    const std::string truth_path = dir_.File("truth.json");
    Process p =
        Process::Start(Concat(launcher, {first_, "-mode=exec", "-wait-start", "-calls=100", "-exec",
                                         second_, "--", "-wait-signal", "-scenarios=fast",
                                         "-goroutines=2", "-calls=300", "-truth", truth_path}),
                       dir_.File("app.out"), dir_.File("app.err"));
    auto waiting = p.WaitForLine(Stream::kStdout, "WAITING ", 20s);
    ASSERT_TRUE(waiting) << p.Describe();
    const std::string pid = waiting->substr(8);
    ASSERT_NO_FATAL_FAILURE(attach(pid));
    // nsenter forks: the fixture is its child.
    const pid_t host_pid = launcher.empty() ? p.pid() : ChildrenOf(p.pid()).at(0);
    ASSERT_EQ(kill(host_pid, SIGUSR2), 0);
    ASSERT_TRUE(p.WaitForLine(Stream::kStdout, "READY ", 20s)) << p.Describe();
    ASSERT_TRUE(WaitUntil(
        [&] {
          return ex.proc.Stderr().find("cgotrace: PID " + pid + " executed " + second_ +
                                       "; following it") != std::string::npos;
        },
        10s))
        << ex.proc.Describe();
    ASSERT_EQ(kill(host_pid, SIGUSR1), 0);
    ASSERT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();

    std::string error;
    auto truth = ReadTruth(truth_path, &error);
    ASSERT_TRUE(truth) << error;
    const double expected = static_cast<double>(TruthCalls(*truth, "fast_add"));
    ASSERT_GT(expected, 0);
    const std::string first_key =
        R"(cgotrace_cgo_call_duration_seconds_count{binary="exec-first",function="call_back_once"})";
    const std::string second_key =
        R"(cgotrace_cgo_call_duration_seconds_count{binary="exec-second",function="fast_add"})";
    std::map<std::string, double> m;
    WaitUntil(
        [&] {
          m = Scrape(dir_, ex);
          return SampleOr(m, second_key, -1) == expected;
        },
        10s);
    EXPECT_EQ(SampleOr(m, first_key, -1), 100) << "the first program's calls";
    EXPECT_EQ(SampleOr(m, second_key, -1), expected) << "every call of the program it executed";
    EXPECT_EQ(SampleOr(m, R"(cgotrace_threads_in_cgo{binary="exec-second"})", -1), 0);
    WaitUntil([&] { return SampleOr(Scrape(dir_, ex), "cgotrace_probes_attached", -1) == 0; }, 10s);
    EXPECT_EQ(SampleOr(Scrape(dir_, ex), "cgotrace_probes_attached", -1), 0)
        << "the exited program's probes are released: " << ex.proc.Describe();
  }

  std::string first_;
  std::string second_;
};

TEST_F(ExporterExecTest, ProcessTracedByPidIsFollowedIntoTheProgramItExecutes) {
  RunningExporter ex;
  ExpectFollowed(ex, {}, [&](const std::string& pid) {
    ex = StartExporter(dir_, "exporter", {"-p", pid, "--rescan", "200ms"});
    ASSERT_GT(ex.port, 0);
    ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: attached", 10s))
        << ex.proc.Describe();
  });
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

TEST_F(ExporterExecTest, AllGoProcessIsFollowedIntoTheProgramItExecutes) {
  NamespacedExporter ns = StartExporterInPidNamespace(dir_, {"--all-go", "--rescan", "200ms"});
  ASSERT_GT(ns.pid, 0);
  const std::vector<std::string> launcher = {"nsenter", "-t", std::to_string(ns.pid), "-p", "--"};
  ExpectFollowed(ns.ex, launcher, [&](const std::string& pid) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          return ns.ex.proc.Stderr().find("probes to PID " + pid + " (") != std::string::npos;
        },
        10s))
        << ns.ex.proc.Describe();
  });
  ASSERT_EQ(kill(ns.pid, SIGTERM), 0);  // the exporter, not unshare
  EXPECT_TRUE(ns.ex.proc.WaitOrKill(15s).Ok()) << ns.ex.proc.Describe();
}

// The new program has no cgo: one line says the process was lost and why.
TEST_F(ExporterExecTest, ExecOfAProgramWithoutCgoIsSaidToBeLost) {
  Process p = Process::Start({first_, "-mode=exec", "-wait-start", "-calls=20", "-exec",
                              Fixture("nocgo"), "--", "-linger=3s"},
                             dir_.File("app.out"), dir_.File("app.err"));
  auto waiting = p.WaitForLine(Stream::kStdout, "WAITING ", 20s);
  ASSERT_TRUE(waiting) << p.Describe();
  const std::string pid = waiting->substr(8);
  RunningExporter ex = StartExporter(dir_, "exporter", {"-p", pid, "--rescan", "200ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: attached", 10s))
      << ex.proc.Describe();
  p.Signal(SIGUSR2);
  const std::string lost =
      "cgotrace: PID " + pid + " executed " + Fixture("nocgo") + ", which cannot be traced: ";
  EXPECT_TRUE(WaitUntil([&] { return ex.proc.Stderr().find(lost) != std::string::npos; }, 10s))
      << ex.proc.Describe();
  EXPECT_TRUE(p.WaitOrKill(30s).Ok()) << p.Describe();
  const std::string err = ex.proc.Stderr();
  const size_t at = err.find(lost);
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(err.find("cgo", at + lost.size()), std::string::npos) << "the reason: " << err;
  EXPECT_EQ(err.find(lost, at + 1), std::string::npos) << "said once: " << err;
  const std::string first_key =
      R"(cgotrace_cgo_call_duration_seconds_count{binary="exec-first",function="call_back_once"})";
  WaitUntil([&] { return SampleOr(Scrape(dir_, ex), first_key, -1) == 20; }, 10s);
  EXPECT_EQ(SampleOr(Scrape(dir_, ex), first_key, -1), 20) << "the first program's calls";
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
