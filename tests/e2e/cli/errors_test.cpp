// What a user sees when something is wrong (bad target, bad flags, not
// root), and what happens to the target when the tracer is stopped early.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using BadInputTest = CliTest;

constexpr auto kErrorTimeout = 30s;

std::vector<std::string> Cli(std::vector<std::string> args) {
  args.insert(args.begin(), CgotraceBin());
  return args;
}

std::string TrueBinary() { return FileExists("/bin/true") ? "/bin/true" : "/usr/bin/true"; }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

TEST_F(BadInputTest, NonexistentPid) {
  const pid_t dead = DeadPid();
  for (const auto& cmd : {"trace", "stat"}) {
    RunResult r = RunCommand(Cli({cmd, "-p", std::to_string(dead)}), dir_, kErrorTimeout);
    ExpectCleanError(r, std::string(cmd) + " -p <dead pid>");
    EXPECT_NE(r.err.find(std::to_string(dead)), std::string::npos)
        << "the error should name the PID; " << r.Describe();
  }
  ExpectCleanError(RunCommand(Cli({"inspect", std::to_string(dead)}), dir_, kErrorTimeout),
                   "inspect <dead pid>");
}

TEST_F(BadInputTest, MissingProgram) {
  const std::string missing = dir_.File("no-such-program");
  ExpectCleanError(RunCommand(Cli({"trace", "--", missing}), dir_, kErrorTimeout),
                   "trace -- missing");
  ExpectCleanError(RunCommand(Cli({"trace", "--binary", missing}), dir_, kErrorTimeout),
                   "trace --binary missing");
  ExpectCleanError(RunCommand(Cli({"inspect", missing}), dir_, kErrorTimeout), "inspect missing");
}

TEST_F(BadInputTest, NonGoBinary) {
  const std::string t = TrueBinary();
  ExpectCleanError(RunCommand(Cli({"trace", "--", t}), dir_, kErrorTimeout), "trace -- " + t);
  ExpectCleanError(RunCommand(Cli({"trace", "--binary", t}), dir_, kErrorTimeout),
                   "trace --binary " + t);
  ExpectCleanError(RunCommand(Cli({"stat", "--", t}), dir_, kErrorTimeout), "stat -- " + t);
  ExpectCleanError(RunCommand(Cli({"inspect", t}), dir_, kErrorTimeout), "inspect " + t);

  // A running non-Go process, by PID; it must be left alone.
  Process sleeper = Process::Start({"sleep", "60"}, dir_.File("sleep.out"), dir_.File("sleep.err"));
  ExpectCleanError(
      RunCommand(Cli({"trace", "-p", std::to_string(sleeper.pid())}), dir_, kErrorTimeout),
      "trace -p <sleep>");
  EXPECT_TRUE(sleeper.Running()) << sleeper.Describe();
}

TEST_F(BadInputTest, GoBinaryWithoutCgo) {
  const std::string nocgo = Fixture("nocgo");
  ExpectCleanError(RunCommand(Cli({"trace", "--", nocgo}), dir_, kErrorTimeout), "trace -- nocgo");
  ExpectCleanError(RunCommand(Cli({"trace", "--binary", nocgo}), dir_, kErrorTimeout),
                   "trace --binary nocgo");
  ExpectCleanError(RunCommand(Cli({"stat", "--", nocgo}), dir_, kErrorTimeout), "stat -- nocgo");

  Process running =
      Process::Start({nocgo, "-linger=60s"}, dir_.File("nocgo.out"), dir_.File("nocgo.err"));
  ASSERT_TRUE(running.WaitForLine(Stream::kStdout, "nocgo:", 10s)) << running.Describe();
  ExpectCleanError(
      RunCommand(Cli({"trace", "-p", std::to_string(running.pid())}), dir_, kErrorTimeout),
      "trace -p <nocgo>");
  EXPECT_TRUE(running.Running()) << running.Describe();
}

TEST_F(BadInputTest, MalformedFlags) {
  const std::string app = Fixture("cgocalls");
  const std::vector<std::vector<std::string>> cases = {
      {"trace"},  // no target
      {"trace", "--no-such-flag", "--", app},
      {"trace", "-p", "not-a-pid"},
      {"trace", "-p", "-5"},
      {"trace", "--format", "xml", "--", app},
      {"stat", "--interval", "banana", "--", app},
      {"stat", "--duration", "-3s", "--", app},
      {"stat", "--by", "colour", "--", app},
      {"stat", "--format", "jsonl", "--", app},
      {"inspect"},
      {"frobnicate"},
  };
  for (const auto& args : cases) {
    std::string what = "cgotrace";
    for (const auto& a : args) what += " " + a;
    ExpectCleanError(RunCommand(Cli(args), dir_, kErrorTimeout), what);
  }
}

// As an unprivileged user the CLI must refuse cleanly instead of failing
// half-way through loading BPF.
TEST_F(BadInputTest, NotRoot) {
  std::vector<std::string> drop;
  if (geteuid() == 0) {
    drop = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
  }
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = drop;
    argv.push_back(CgotraceBin());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  auto expect_privilege_error = [&](const RunResult& r, const std::string& what) {
    ExpectCleanError(r, what);
    const std::string err = Lower(r.err);
    EXPECT_TRUE(
        err.find("root") != std::string::npos || err.find("privilege") != std::string::npos ||
        err.find("permission") != std::string::npos || err.find("cap_") != std::string::npos)
        << "the error should say privileges are missing; " << r.Describe();
  };

  const std::string app = Fixture("cgocalls");
  expect_privilege_error(RunCommand(as_nobody({"trace", "--", app, "-scenarios=fast", "-calls=10"}),
                                    dir_, kErrorTimeout),
                         "unprivileged trace -- app");
  expect_privilege_error(RunCommand(as_nobody({"stat", "--", app, "-scenarios=fast", "-calls=10"}),
                                    dir_, kErrorTimeout),
                         "unprivileged stat -- app");

  Process target = Process::Start({app, "-wait-signal", "-scenarios=fast", "-calls=10"},
                                  dir_.File("target.out"), dir_.File("target.err"));
  ASSERT_TRUE(target.WaitForLine(Stream::kStdout, "READY ", 20s)) << target.Describe();
  expect_privilege_error(
      RunCommand(as_nobody({"trace", "-p", std::to_string(target.pid())}), dir_, kErrorTimeout),
      "unprivileged trace -p");
  target.Signal(SIGUSR1);
  EXPECT_TRUE(target.WaitOrKill(30s).Ok()) << target.Describe();
}

// ---------------------------------------------------------------------------
// Stopping the tracer early (Ctrl-C, or a service manager's SIGTERM) must
// detach cleanly and leave the target running.

class DetachTest : public BpfTest, public ::testing::WithParamInterface<int> {};

TEST_P(DetachTest, TargetKeepsRunningAndExitsNormally) {
  const int sig = GetParam();
  // Long enough to outlive attach + detach with a wide margin, short enough
  // for the suite's budget.
  constexpr int kCompressUs = 50, kFlushUs = 2000;
  Process demo = Process::Start(
      {Fixture("demo"), "-duration=6s", "-workers=2", "-compress-us=" + std::to_string(kCompressUs),
       "-flush-us=" + std::to_string(kFlushUs)},
      dir_.File("demo.out"), dir_.File("demo.err"));
  ASSERT_TRUE(demo.WaitForLine(Stream::kStdout, "demo: pid", 10s)) << demo.Describe();

  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start({CgotraceBin(), "trace", "-p", std::to_string(demo.pid()), "--format",
                               "jsonl", "--output", events_path},
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s)) << ct.Describe();
  // Let events flow before stopping.
  std::this_thread::sleep_for(700ms);
  ASSERT_TRUE(demo.Running()) << "demo ended before the tracer was stopped: " << demo.Describe();

  ct.Signal(sig);
  ExitStatus st = ct.WaitOrKill(15s);
  EXPECT_TRUE(st.Ok()) << "signal " << sig << " must detach cleanly with status 0; "
                       << ct.Describe();
  EXPECT_TRUE(demo.Running()) << "the target must survive its tracer: " << demo.Describe();

  ExitStatus dst = demo.WaitOrKill(20s);
  EXPECT_TRUE(dst.Ok()) << demo.Describe();
  EXPECT_NE(demo.Stdout().find("demo: compress_block="), std::string::npos) << demo.Describe();

  // What was written before the signal is complete, valid JSONL.
  const auto events = ForPid(ReadEventsOrFail(events_path), demo.pid());
  ExpectWellFormed(events);
  SCOPED_TRACE("events by func: " + FuncSummary(events));
  int compress = 0, flush = 0;
  for (const auto& e : events) {
    const std::string f = e.value("func", "");
    if (f == "compress_block") {
      ++compress;
      EXPECT_GE(e.value("duration_ns", uint64_t{0}), uint64_t{kCompressUs} * 1000) << e.dump();
    } else if (f == "disk_flush") {
      ++flush;
      EXPECT_GE(e.value("duration_ns", uint64_t{0}), uint64_t{kFlushUs} * 1000) << e.dump();
    }
  }
  EXPECT_GT(compress, 0);
  EXPECT_GT(flush, 0);
}

INSTANTIATE_TEST_SUITE_P(Signals, DetachTest, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) {
                           return std::string(info.param == SIGINT ? "SIGINT" : "SIGTERM");
                         });

}  // namespace
}  // namespace cgotrace::e2e
