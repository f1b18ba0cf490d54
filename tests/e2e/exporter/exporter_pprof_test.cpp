// The exporter's /debug/pprof/cgo endpoint as a user and a continuous
// profiler meet it: a fixture traced by `cgotrace exporter --call-stacks`,
// two concurrent profiles fetched over HTTP and read by `go tool pprof`
// (exact call counts of the fixture's truth, its Go callers); seconds beyond
// the write timeout and a client that hangs up leave the exporter serving.
#include <signal.h>

#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExporterPprofTest = BpfTest;

std::string ProfileUrl(const RunningExporter& ex, const std::string& query) {
  return "http://127.0.0.1:" + std::to_string(ex.port) + "/debug/pprof/cgo" + query;
}

// curl writing the body to `out`; stdout is "<HTTP status>".
RunResult Curl(const TempDir& dir, const std::string& url, const std::string& out,
               const std::string& max_time) {
  return RunCommand({"curl", "-sS", "-o", out, "-w", "%{http_code}", "--max-time", max_time, url},
                    dir, 60s);
}

TEST_F(ExporterPprofTest, ProfilesOverHttpMatchTheFixtureAndBadRequestsLeaveItServing) {
  const std::string truth_path = dir_.File("truth.json");
  Process app = Process::Start(
      {Fixture("cgocalls"), "-wait-signal", "-scenarios=fast,callback", "-goroutines=2",
       "-calls=500", "-callbacks=3", "-callback-calls=4", "-truth", truth_path, "-linger=60s"},
      dir_.File("app.out"), dir_.File("app.err"));
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "READY", 10s)) << app.Describe();
  RunningExporter ex = StartExporter(
      dir_, "exporter", {"-p", std::to_string(app.pid()), "--call-stacks", "--rescan", "500ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: attached", 5s)) << ex.proc.Describe();
  std::string error;

  // Beyond the write timeout: 400 and Go's message, at once.
  RunResult bad = Curl(dir_, ProfileUrl(ex, "?seconds=100000"), dir_.File("bad.txt"), "10");
  ASSERT_TRUE(bad.status.Ok()) << bad.Describe();
  EXPECT_EQ(bad.out, "400");
  EXPECT_EQ(ReadFile(dir_.File("bad.txt")), "profile duration exceeds server's WriteTimeout\n");

  // A client that hangs up in the middle of its window.
  RunResult aborted = Curl(dir_, ProfileUrl(ex, "?seconds=3"), dir_.File("aborted"), "1");
  EXPECT_FALSE(aborted.status.Ok()) << "curl should have timed out: " << aborted.Describe();

  // Two concurrent windows open, then the fixture makes its calls.
  std::vector<Process> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(
        Process::Start({"curl", "-sS", "-o", dir_.File("cgo" + std::to_string(i) + ".pb.gz"), "-w",
                        "%{http_code}", "--max-time", "40", ProfileUrl(ex, "?seconds=8")},
                       dir_.File("curl" + std::to_string(i) + ".out"),
                       dir_.File("curl" + std::to_string(i) + ".err")));
  }
  // The windows open as soon as the requests arrive; 3 s is ample even on a
  // loaded machine, and the fixture's calls take milliseconds of the 8 s.
  std::this_thread::sleep_for(3s);
  app.Signal(SIGUSR1);
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "DONE", 30s)) << app.Describe();
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const std::map<std::string, uint64_t> want = TruthCallsByFunc(*truth);

  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("profile " + std::to_string(i));
    const ExitStatus st = clients[static_cast<size_t>(i)].WaitOrKill(30s);
    ASSERT_TRUE(st.Ok()) << clients[static_cast<size_t>(i)].Describe();
    EXPECT_EQ(ReadFile(dir_.File("curl" + std::to_string(i) + ".out")), "200");
    const std::string pb = dir_.File("cgo" + std::to_string(i) + ".pb.gz");
    ExpectPprofCalls(dir_, pb, want);
    RunResult traces = RunCommand({CGOTRACE_GO, "tool", "pprof", "-traces", pb}, dir_);
    ASSERT_TRUE(traces.status.Ok()) << traces.Describe();
    EXPECT_NE(traces.out.find("fast_add\n             main._Cfunc_fast_add\n             "
                              "main.runFast\n"),
              std::string::npos)
        << traces.out;
  }

  // Still serving: metrics and another profile.
  auto metrics = HttpGet(dir_, ex.url(), &error);
  ASSERT_TRUE(metrics) << error;
  EXPECT_NE(metrics->find("cgotrace_cgo_call_duration_seconds_count"), std::string::npos);
  RunResult again = Curl(dir_, ProfileUrl(ex, "?seconds=1"), dir_.File("again.pb.gz"), "20");
  ASSERT_TRUE(again.status.Ok()) << again.Describe();
  EXPECT_EQ(again.out, "200");
  EXPECT_TRUE(ex.proc.Wait(0s) == std::nullopt) << "the exporter exited: " << ex.proc.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
