// A launched target that replaces its program (execve) (issue 12, item 7):
// tracing followed the first program only and then went silent. The new
// program is followed when it is a Go program with cgo; otherwise one line
// says it was lost and why.
#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
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

}  // namespace
}  // namespace cgotrace::e2e
