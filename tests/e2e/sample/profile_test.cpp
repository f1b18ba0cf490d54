// cgotrace profile against the incgo fixture: shares of rounds that match the
// known split of its threads, mixed C-over-Go stacks (folded, pprof read by
// `go tool pprof`), launching a command; and bad input to top and profile.
#include <signal.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"
#include "sample_helpers.h"

namespace cgotrace::e2e {
namespace {

using SampleTest = BpfTest;
using SampleBadInputTest = CliTest;

TEST_F(SampleTest, ProfileSharesMatchTheKnownSplit) {
  const int blocked = 4;
  Incgo f = StartIncgo(dir_, "incgo", blocked);
  ASSERT_FALSE(f.truth.is_null());
  Json j = ProfileJson(dir_, f.proc.pid(), "2s");
  ASSERT_TRUE(j.contains("rounds")) << j.dump();
  const double rounds = j["rounds"].get<double>();
  ASSERT_GE(rounds, 40) << j.dump();  // 2 s at 49 Hz, on a loaded machine
  std::map<std::string, Json> by_func;
  for (const Json& fn : j["functions"]) {
    by_func[fn["func"].get<std::string>()] = fn;
  }
  ASSERT_TRUE(by_func.count("block_outer")) << j.dump();
  ASSERT_TRUE(by_func.count("spin_outer")) << j.dump();
  // Every round sees each blocked thread and the spinner in C: exactly
  // `blocked` and 1 thread(s) per round. Tolerance 2%: a round can race with
  // nothing here, since none of these calls return.
  const Json& blk = by_func["block_outer"];
  const Json& spn = by_func["spin_outer"];
  EXPECT_NEAR(blk["samples"].get<double>() / rounds, blocked, 0.02 * blocked) << j.dump();
  EXPECT_NEAR(spn["samples"].get<double>() / rounds, 1.0, 0.02) << j.dump();
  // Blocked threads sleep in one read that never wakes: on-CPU share 0; the
  // spinner always wants a CPU: ~1. "Wants": on a shared machine it waits
  // for a CPU part of the time (runnable).
  auto active = [](const Json& fn) {
    return (fn["on_cpu_samples"].get<double>() + fn["runnable_samples"].get<double>()) /
           fn["samples"].get<double>();
  };
  EXPECT_EQ(active(blk), 0.0) << j.dump();
  EXPECT_GE(active(spn), 0.95) << j.dump();
  // Goroutines: each blocked goroutine and the spinner, by their own goids.
  std::map<uint64_t, double> goroutine_samples;
  for (const Json& g : j["goroutines"]) {
    goroutine_samples[g["goid"].get<uint64_t>()] = g["samples"].get<double>();
  }
  for (const Json& g : f.truth["blocked"]) {
    EXPECT_NEAR(goroutine_samples[g["goid"].get<uint64_t>()] / rounds, 1.0, 0.02)
        << "goroutine " << g["goid"] << ": " << j.dump();
  }
  f.proc.Signal(SIGTERM);
  EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
}

TEST_F(SampleTest, ProfileFoldedAndPprofStacksAreMixedCOverGo) {
  Incgo f = StartIncgo(dir_, "incgo", 2);
  ASSERT_FALSE(f.truth.is_null());
  RunResult r = RunCommand(Cli({"profile", "-p", std::to_string(f.proc.pid()), "--duration",
                                "500ms", "--format", "folded"}),
                           dir_, kTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  bool found = false;
  for (const std::string& line : Lines(r.out)) {
    // root; Go callers outermost first; the _Cfunc_ wrapper; then C frames.
    if (line.find("main.blockedWorker;main._Cfunc_block_outer;") != std::string::npos &&
        line.find(";block_outer;block_inner ") != std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << r.out;

  // pprof: the same stacks, leaf first, as `go tool pprof` shows them.
  const std::string pb = dir_.File("incgo.pb.gz");
  RunResult p = RunCommand(Cli({"profile", "-p", std::to_string(f.proc.pid()), "--duration",
                                "500ms", "--format", "pprof", "-o", pb}),
                           dir_, kTimeout);
  ASSERT_TRUE(p.status.Ok()) << p.Describe();
  RunResult traces = RunCommand({CGOTRACE_GO, "tool", "pprof", "-traces", pb}, dir_);
  ASSERT_TRUE(traces.status.Ok()) << traces.Describe();
  const std::string chain =
      "block_inner\n             block_outer\n             main._Cfunc_block_outer\n"
      "             main.blockedWorker\n";
  EXPECT_NE(traces.out.find(chain), std::string::npos) << traces.out;
  for (const Json& g : f.truth["blocked"]) {
    EXPECT_NE(traces.out.find("goid:  " + std::to_string(g["goid"].get<uint64_t>()) + "\n"),
              std::string::npos)
        << traces.out;
  }
  f.proc.Signal(SIGTERM);
  EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
}

TEST_F(SampleTest, ProfileLaunchesACommand) {
  const std::string truth = dir_.File("launched.truth.json");
  RunResult r = RunCommand(Cli({"profile", "--duration", "1500ms", "--format", "json", "--",
                                Fixture("incgo"), "-blocked", "2", "-truth", truth}),
                           dir_, kTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  // The launched program shares stdout ("READY ..."): the profile is the
  // JSON line.
  std::string json_line;
  for (const std::string& line : Lines(r.out)) {
    if (!line.empty() && line[0] == '{') json_line = line;
  }
  std::string error;
  auto j = ParseJson(json_line, &error);
  ASSERT_TRUE(j) << error << r.Describe();
  ASSERT_TRUE(WaitForFile(truth, 5s));
  bool blocked_seen = false;
  for (const Json& fn : (*j)["functions"]) {
    blocked_seen |= fn["func"] == "block_outer";
  }
  EXPECT_TRUE(blocked_seen) << j->dump();
}

TEST_F(SampleBadInputTest, BadInput) {
  const pid_t dead = DeadPid();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"top", "-p", std::to_string(dead), "--once"},
           {"top"},
           {"top", "-p", "-3", "--once"},
           {"top", "-p", "1", "--sort", "nonsense"},
           {"top", "-p", "1", "--format", "xml"},
           {"profile", "-p", std::to_string(dead), "--duration", "1s"},
           {"profile"},
           {"profile", "-p", "1", "-F", "0"},
           {"profile", "-p", "1", "--format", "xml"},
           {"profile", "-p", "1", "--duration", "soon"},
           {"profile", "--", dir_.File("no-such-program")},
           {"profile", "--binary", dir_.File("no-such-program")},
       }) {
    std::string what;
    for (const std::string& a : args) {
      what += a + " ";
    }
    RunResult r = RunCommand(Cli(args), dir_, kTimeout);
    ExpectCleanError(r, what);
  }
  // A process that is not Go: the error names the PID.
  RunResult r = RunCommand(Cli({"top", "-p", "1", "--once"}), dir_, kTimeout);
  ExpectCleanError(r, "top -p 1");
  EXPECT_NE(r.err.find("PID 1"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
