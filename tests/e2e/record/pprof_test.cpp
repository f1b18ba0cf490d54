// `cgotrace report --format pprof` read by the real `go tool pprof`: exact
// call counts per C function against the fixture's truth, the fixture's Go
// callers with file:line in -traces, on the plain, stripped and PIE builds.
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

constexpr auto kRunTimeout = 90s;

class PprofReportTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(PprofReportTest, GoToolPprofShowsExactCountsAndGoCallers) {
  const std::string bin = Fixture(GetParam());
  const std::string truth_path = dir_.File("truth.json");
  const std::string rec = dir_.File("app.cgotrace");
  const std::string pb = dir_.File("cgo.pb.gz");
  std::vector<std::string> argv = {CgotraceBin(), "record", "--call-stacks",       "-o", rec,
                                   "--",          bin,      "-truth=" + truth_path};
  for (const std::string& a : ModestCgocallsArgs()) argv.push_back(a);
  RunResult r = RunCommand(argv, dir_, kRunTimeout);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;

  RunResult rep =
      RunCommand({CgotraceBin(), "report", "-i", rec, "--format", "pprof", "-o", pb}, dir_);
  ASSERT_TRUE(rep.status.Ok()) << rep.Describe();

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

INSTANTIATE_TEST_SUITE_P(Builds, PprofReportTest,
                         ::testing::Values("cgocalls", "cgocalls-stripped", "cgocalls-pie"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace cgotrace::e2e
