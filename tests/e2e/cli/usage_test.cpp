// Exit statuses a script relies on: usage errors exit 2 in every subcommand,
// launch mode passes the command's own status through, and outputs that
// cannot be written are refused before anything is attached (issue 12,
// item 8; item 5 for durations).
#include <signal.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

constexpr auto kTimeout = 60s;

std::vector<std::string> Cli(std::vector<std::string> args) {
  args.insert(args.begin(), CgotraceBin());
  return args;
}

std::string Join(const std::vector<std::string>& args) {
  std::string out = "cgotrace";
  for (const auto& a : args) out += " " + a;
  return out;
}

using UsageTest = CliTest;

// Each of these is wrong on the command line alone: one error line naming
// the flag, status 2, and nothing attached or run.
TEST_F(UsageTest, BadFlagValuesExitTwoInEverySubcommand) {
  const std::string app = Fixture("cgocalls");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"trace"}, "no target"},
      {{"trace", "-p", "-5"}, "PID"},
      {{"trace", "--format", "xml", "--", app}, "--format 'xml'"},
      {{"trace", "--duration", "inf", "--", app}, "--duration 'inf'"},
      {{"trace", "--duration", "nan", "--", app}, "--duration 'nan'"},
      {{"trace", "--duration", "1e30s", "--", app}, "--duration '1e30s'"},
      {{"trace", "--duration", "0", "--", app}, "--duration '0'"},
      {{"stat", "--duration", "-3s", "--", app}, "--duration '-3s'"},
      {{"stat", "--interval", "banana", "--", app}, "--interval 'banana'"},
      {{"stat", "--interval", "1ms", "--", app}, "at least 100ms"},
      {{"stat", "--interval", "0", "--", app}, "--interval '0'"},
      {{"stat", "--by", "colour", "--", app}, "--by 'colour'"},
      {{"stat", "--format", "jsonl", "--", app}, "--format 'jsonl'"},
      {{"record", "--duration", "inf", "-o", dir_.File("r.cgotrace"), "--", app},
       "--duration 'inf'"},
      {{"record", "--batch-events", "0", "--", app}, "--batch-events"},
      {{"report", "--format", "xml"}, "--format 'xml'"},
      {{"report", "--sort", "func,colour"}, "--sort 'colour'"},
      {{"report", "--root", "tree"}, "--root 'tree'"},
      {{"report", "--weight", "bytes"}, "--weight 'bytes'"},
      {{"report", "--percent-limit", "101"}, "--percent-limit"},
      {{"exporter", "--all-go", "--rescan", "1ms"}, "--rescan '1ms'"},
      {{"exporter", "--all-go", "--rescan", "inf"}, "--rescan 'inf'"},
      {{"exporter", "--listen", "nowhere:1", "--all-go"}, "--listen"},
      {{"exporter"}, "no target"},
      {{"trace", "--no-such-flag", "--", app}, "--no-such-flag"},
      {{"frobnicate"}, "frobnicate"},
  };
  for (const auto& [args, names] : cases) {
    RunResult r = RunCommand(Cli(args), dir_, kTimeout);
    ExpectCleanError(r, Join(args));
    EXPECT_EQ(r.status.code, 2) << "a usage error exits 2; " << Join(args) << ": " << r.Describe();
    EXPECT_NE(r.err.find(names), std::string::npos)
        << "the error should name " << names << "; " << r.Describe();
  }
}

TEST_F(UsageTest, ReportOfADirectorySaysItIsADirectory) {
  RunResult r = RunCommand(Cli({"report", "-i", dir_.path()}), dir_, kTimeout);
  ExpectCleanError(r, "report -i DIR");
  EXPECT_EQ(r.status.code, 1) << r.Describe();
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.Describe();
}

using OutputTest = BpfTest;

// An output that cannot be stored is refused before any probe is attached
// (the launched command never runs).
TEST_F(OutputTest, UnwritableOutputFailsBeforeAttaching) {
  const std::string app = Fixture("cgocalls");
  const std::string truth = dir_.File("truth.json");
  const std::string missing_dir = dir_.File("no-such-dir") + "/out";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"trace", "-o", missing_dir, "--", app, "-scenarios=fast", "-calls=10",
            "-truth=" + truth},
           {"record", "-o", missing_dir, "--", app, "-scenarios=fast", "-calls=10",
            "-truth=" + truth},
           {"record", "-o", dir_.path(), "--", app, "-scenarios=fast", "-calls=10",
            "-truth=" + truth},
       }) {
    RunResult r = RunCommand(Cli(args), dir_, kTimeout);
    ExpectCleanError(r, Join(args));
    EXPECT_EQ(r.err.find("attached"), std::string::npos) << r.Describe();
    EXPECT_FALSE(FileExists(truth)) << "the command must not have run; " << Join(args);
  }
}

using LaunchStatusTest = BpfTest;

// Like time(1) and perf stat: a launched command's failure is cgotrace's.
TEST_F(LaunchStatusTest, CommandExitStatusIsPassedThrough) {
  const std::string app = Fixture("cgocalls");
  for (const char* sub : {"trace", "stat", "record"}) {
    SCOPED_TRACE(sub);
    // cgocalls exits 1 when it cannot write its truth file, after its calls.
    std::vector<std::string> args = {sub};
    if (std::string(sub) == "record") {
      args.insert(args.end(), {"-o", dir_.File("r.cgotrace")});
    }
    std::vector<std::string> ok_args = args;
    ok_args.insert(ok_args.end(), {"--", app, "-scenarios=fast", "-calls=10"});
    RunResult ok = RunCommand(Cli(ok_args), dir_, kTimeout);
    EXPECT_TRUE(ok.status.Ok()) << ok.Describe();

    args.insert(args.end(), {"--", app, "-scenarios=fast", "-calls=10",
                             "-truth=" + dir_.File("no-such-dir") + "/truth.json"});
    RunResult failed = RunCommand(Cli(args), dir_, kTimeout);
    EXPECT_TRUE(failed.status.exited) << failed.Describe();
    EXPECT_EQ(failed.status.code, 1) << "the command's status; " << failed.Describe();
    EXPECT_NE(failed.err.find(" events, 0 lost"), std::string::npos)
        << "tracing itself succeeded; " << failed.Describe();
  }
}

TEST_F(LaunchStatusTest, CommandKilledBySignalGives128PlusSignal) {
  const std::string app = Fixture("cgocalls");
  const std::string rec = dir_.File("killed.cgotrace");
  Process ct = Process::Start(
      Cli({"record", "-o", rec, "--", app, "-scenarios=fast", "-calls=10", "-linger=60s"}),
      dir_.File("ct.out"), dir_.File("ct.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStdout, "DONE", 30s)) << ct.Describe();
  auto attached = ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 5s);
  ASSERT_TRUE(attached) << ct.Describe();
  // "... to PID 1234 (/path/cgocalls); Ctrl-C to stop"
  const size_t at = attached->find("PID ");
  ASSERT_NE(at, std::string::npos) << *attached;
  const pid_t child = std::stoi(attached->substr(at + 4));
  ASSERT_EQ(kill(child, SIGKILL), 0);
  ExitStatus st = ct.WaitOrKill(30s);
  EXPECT_TRUE(st.exited) << ct.Describe();
  EXPECT_EQ(st.code, 128 + SIGKILL) << ct.Describe();

  RunResult report = RunCommand(Cli({"report", "-i", rec}), dir_, kTimeout);
  EXPECT_TRUE(report.status.Ok()) << report.Describe();
  EXPECT_NE(report.out.find("Launched command exited with status 137"), std::string::npos)
      << report.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
