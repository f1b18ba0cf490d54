// `--binary NAME` without a slash (issue 12, item 1): cgotrace analysed
// ./NAME, but libbpf searched $PATH for the name and put the probes, at
// ./NAME's offsets, into another program of that name, which then crashed.
// Every subcommand resolves the name once to ./NAME's absolute path.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using BinaryPathTest = BpfTest;

TEST_F(BinaryPathTest, NameWithoutSlashIsTheFileHereNotOneInPath) {
  namespace fs = std::filesystem;
  // ./app is the cgocalls fixture; the "app" that $PATH finds first is
  // another Go program (the demo fixture).
  const std::string here = dir_.File("here");
  const std::string elsewhere = dir_.File("elsewhere");
  fs::create_directories(here);
  fs::create_directories(elsewhere);
  fs::copy_file(Fixture("cgocalls"), here + "/app");
  fs::copy_file(Fixture("demo"), elsewhere + "/app");

  Process ct = Process::Start({"env", "-C", here, "PATH=" + elsewhere + ":/usr/bin:/bin",
                               CgotraceBin(), "stat", "--binary", "app", "--format", "json"},
                              dir_.File("ct.out"), dir_.File("ct.err"));
  auto attached = ct.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s);
  ASSERT_TRUE(attached) << ct.Describe();
  EXPECT_NE(attached->find(here + "/app"), std::string::npos)
      << "the attach line should name the absolute path; " << *attached;

  const std::string truth_path = dir_.File("truth.json");
  RunResult app = RunCommand(
      {here + "/app", "-scenarios=fast", "-goroutines=2", "-calls=150", "-truth=" + truth_path},
      dir_, 60s);
  ASSERT_TRUE(app.status.Ok()) << app.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;

  ct.Signal(SIGINT);
  ASSERT_TRUE(ct.WaitOrKill(20s).Ok()) << ct.Describe();
  auto report = ParseJson(ct.Stdout(), &error);
  ASSERT_TRUE(report) << error << "; " << ct.Describe();
  int64_t counted = 0;
  for (const auto& row : (*report)["calls"]) {
    if (row.value("key", "") == "fast_add") counted = row.value("count", int64_t{0});
  }
  EXPECT_EQ(counted, TruthCalls(*truth, "fast_add"))
      << "every call of ./app, from the file in the current directory; " << report->dump();

  // inspect names the same file.
  RunResult inspect = RunCommand(
      {"env", "-C", here, "PATH=" + elsewhere + ":/usr/bin:/bin", CgotraceBin(), "inspect", "app"},
      dir_, 60s);
  ASSERT_TRUE(inspect.status.Ok()) << inspect.Describe();
  EXPECT_NE(inspect.out.find("binary:       " + here + "/app"), std::string::npos)
      << inspect.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
