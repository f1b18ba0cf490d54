// `cgotrace inspect`: what cgotrace learned about a binary or process. Checked
// on the plain, stripped and PIE builds of the same program.
#include <signal.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

class InspectTest : public CliTest, public ::testing::WithParamInterface<const char*> {
 protected:
  // The Go version the binary was built with, as the binary itself reports it
  // (runtime.Version() in its truth), so the test never hard-codes it.
  std::string GoVersionOf(const std::string& bin) {
    const std::string truth_path = dir_.File("version.json");
    RunResult r = RunCommand({bin, "-scenarios=none", "-truth=" + truth_path}, dir_, 30s);
    EXPECT_TRUE(r.status.Ok()) << r.Describe();
    std::string error;
    auto truth = ReadTruth(truth_path, &error);
    EXPECT_TRUE(truth) << error;
    return truth ? truth->value("go_version", "") : "";
  }

  void ExpectDescribesCgoBinary(const RunResult& r, const std::string& go_version) {
    ASSERT_TRUE(r.status.Ok()) << r.Describe();
    ASSERT_FALSE(go_version.empty());
    EXPECT_NE(r.out.find(go_version), std::string::npos)
        << "Go version " << go_version << "; " << r.Describe();
    EXPECT_NE(r.out.find("cgo"), std::string::npos) << r.Describe();
    EXPECT_NE(r.out.find("runtime.cgocall"), std::string::npos) << r.Describe();
  }
};

TEST_P(InspectTest, Binary) {
  const std::string bin = Fixture(GetParam());
  const std::string version = GoVersionOf(bin);
  ExpectDescribesCgoBinary(RunCommand({CgotraceBin(), "inspect", bin}, dir_, 30s), version);
}

TEST_P(InspectTest, RunningProcess) {
  const std::string bin = Fixture(GetParam());
  const std::string version = GoVersionOf(bin);
  Process p = Process::Start({bin, "-wait-signal", "-scenarios=none"}, dir_.File("p.out"),
                             dir_.File("p.err"));
  ASSERT_TRUE(p.WaitForLine(Stream::kStdout, "READY ", 20s)) << p.Describe();
  ExpectDescribesCgoBinary(
      RunCommand({CgotraceBin(), "inspect", std::to_string(p.pid())}, dir_, 30s), version);
  // Inspecting reads the process; it must not disturb it.
  p.Signal(SIGUSR1);
  EXPECT_TRUE(p.WaitOrKill(20s).Ok()) << p.Describe();
}

// What a user looks for first: the C functions the program calls, by the
// names its Go source uses. The names come from a quick run's truth.
TEST_P(InspectTest, ListsTheProgramsCFunctions) {
  const std::string bin = Fixture(GetParam());
  const std::string truth_path = dir_.File("truth.json");
  RunResult run =
      RunCommand({bin, "-truth=" + truth_path, "-goroutines=1", "-calls=1", "-blocking=1",
                  "-sleep-us=1", "-depth=1", "-deep-calls=1", "-callbacks=1", "-callback-calls=1",
                  "-locked-calls=1", "-cstrings=1"},
                 dir_, 30s);
  ASSERT_TRUE(run.status.Ok()) << run.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;

  RunResult r = RunCommand({CgotraceBin(), "inspect", bin}, dir_, 30s);
  ASSERT_TRUE(r.status.Ok()) << r.Describe();
  for (const auto& g : truth->at("goroutines")) {
    for (const auto& [func, n] : g.at("calls").items()) {
      EXPECT_NE(r.out.find(func), std::string::npos) << func << " not listed; " << r.Describe();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Builds, InspectTest,
                         ::testing::Values("cgocalls", "cgocalls-stripped", "cgocalls-pie"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace cgotrace::e2e
