// A second cgotrace beside one already attached to the same binary (issue
// 12): the kernel writes a uprobe's breakpoint into every private executable
// mapping of the file, which would include cgotrace's own view of the ELF
// file, so the second one would plan its probe sites on breakpoint bytes
// instead of the program's instructions. Its `inspect` must see what it sees
// without the first, and its `trace` must count every call exactly.
#include <signal.h>

#include <string>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using SecondTracerTest = BpfTest;

// `cgotrace trace --binary bin`, attached: its uprobes sit in every process
// of the binary from now on, and in any private executable mapping of it.
Process StartFirstTracer(const std::string& bin, const std::string& events_path,
                         const TempDir& dir) {
  Process first = Process::Start(
      {CgotraceBin(), "trace", "--binary", bin, "--format", "jsonl", "--output", events_path},
      dir.File("first.out"), dir.File("first.err"));
  EXPECT_TRUE(first.WaitForLine(Stream::kStderr, "cgotrace: attached", 30s)) << first.Describe();
  return first;
}

TEST_F(SecondTracerTest, InspectSeesTheSameSitesWhileAnotherTracerIsAttached) {
  const std::string bin = Fixture("cgocalls");
  RunResult alone = RunCommand({CgotraceBin(), "inspect", bin}, dir_, 30s);
  ASSERT_TRUE(alone.status.Ok()) << alone.Describe();

  Process first = StartFirstTracer(bin, dir_.File("first.jsonl"), dir_);
  ASSERT_FALSE(HasFailure());
  RunResult beside = RunCommand({CgotraceBin(), "inspect", bin}, dir_, 30s);
  ASSERT_TRUE(beside.status.Ok()) << beside.Describe();
  // Every site: address, instruction, its bytes and why it was chosen.
  EXPECT_EQ(beside.out, alone.out);

  first.Signal(SIGINT);
  EXPECT_TRUE(first.WaitOrKill(20s).Ok()) << first.Describe();
}

// Both tracers see the same process and each counts every call of it.
TEST_F(SecondTracerTest, TraceCountsExactlyWhileAnotherTracerIsAttached) {
  const std::string bin = Fixture("cgocalls");
  const std::string first_events = dir_.File("first.jsonl");
  Process first = StartFirstTracer(bin, first_events, dir_);
  ASSERT_FALSE(HasFailure());

  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("second.jsonl");
  Process second = Process::Start(Concat({CgotraceBin(), "trace", "--format", "jsonl", "--output",
                                          events_path, "--", bin, "-truth=" + truth_path},
                                         ModestCgocallsArgs()),
                                  dir_.File("second.out"), dir_.File("second.err"));
  ASSERT_TRUE(second.WaitOrKill(60s).Ok()) << second.Describe();
  first.Signal(SIGINT);
  ASSERT_TRUE(first.WaitOrKill(20s).Ok()) << first.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const uint64_t pid = truth->at("pid").get<uint64_t>();
  {
    SCOPED_TRACE("the second tracer");
    ExpectMatchesCgocallsTruth(*truth, ForPid(ReadEventsOrFail(events_path), pid),
                               Window::kWholeProcess, CommOf(bin));
  }
  {
    SCOPED_TRACE("the first tracer");
    ExpectMatchesCgocallsTruth(*truth, ForPid(ReadEventsOrFail(first_events), pid),
                               Window::kWholeProcess, CommOf(bin));
  }
}

}  // namespace
}  // namespace cgotrace::e2e
