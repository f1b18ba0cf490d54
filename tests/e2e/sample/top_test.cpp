// cgotrace top against the incgo fixture: goroutines blocked in C since
// before cgotrace attached, one spinning in C, one making tiny calls, each
// shown by its own goid, thread and C frames from the fixture's own truth;
// older releases, PID namespaces, ages that grow.
#include <signal.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"
#include "sample_helpers.h"

namespace cgotrace::e2e {
namespace {

using SampleTest = BpfTest;

TEST_F(SampleTest, TopListsCallsThatBeganBeforeAttach) {
  for (const char* fixture : {"incgo", "incgo-stripped", "incgo-pie"}) {
    Incgo f = StartIncgo(dir_, fixture, 3);
    ASSERT_FALSE(f.truth.is_null());
    Json top = TopOnce(dir_, f.proc.pid());
    const bool stripped = std::string(fixture) == "incgo-stripped";
    ExpectTopMatchesTruth(top, f.truth, fixture, !stripped);
    // Runtime globals need .symtab.
    EXPECT_EQ(top["thread_limit"].is_null(), stripped) << top.dump();
    if (!stripped) {
      EXPECT_EQ(top["thread_limit"].get<int64_t>(), 10000);
      EXPECT_GE(top["goroutines"].get<int64_t>(), 6);
    }
    f.proc.Signal(SIGTERM);
    EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok())
        << "the fixture must survive sampling and exit 0; " << f.proc.Describe();
  }
}

// go1.20 and go1.22: g has no syscallbp, the runtime's layout differs
// (offsets, cgocall's frame), and the Go side of each call is found from
// g.syscallsp and cgocall's prologue. Same exact truths as the current
// release: each goroutine by its own goid, function, thread, call site and C
// frames; the profile attributes every round to each blocked goroutine.
TEST_F(SampleTest, TopAndProfileOnReleasesBeforeGo123) {
  for (const char* fixture : {"incgo-go1.20", "incgo-go1.22"}) {
    SCOPED_TRACE(fixture);
    const int blocked = 3;
    Incgo f = StartIncgo(dir_, fixture, blocked);
    ASSERT_FALSE(f.truth.is_null());
    RunResult inspect = RunCommand(Cli({"inspect", Fixture(fixture)}), dir_, kTimeout);
    ASSERT_TRUE(inspect.status.Ok()) << inspect.Describe();
    EXPECT_NE(inspect.out.find("cgocall frame: g.syscallsp+"), std::string::npos) << inspect.out;
    Json top = TopOnce(dir_, f.proc.pid());
    ExpectTopMatchesTruth(top, f.truth, fixture, true);

    Json j = ProfileJson(dir_, f.proc.pid(), "1s");
    ASSERT_TRUE(j.contains("rounds")) << j.dump();
    const double rounds = j["rounds"].get<double>();
    ASSERT_GE(rounds, 20) << j.dump();
    std::map<uint64_t, Json> by_goid;
    for (const Json& g : j["goroutines"]) {
      by_goid[g["goid"].get<uint64_t>()] = g;
    }
    for (const Json& g : f.truth["blocked"]) {
      const uint64_t goid = g["goid"].get<uint64_t>();
      ASSERT_TRUE(by_goid.count(goid)) << "goroutine " << goid << ": " << j.dump();
      EXPECT_EQ(by_goid[goid]["func"], "block_outer");
      EXPECT_NEAR(by_goid[goid]["samples"].get<double>() / rounds, 1.0, 0.02) << j.dump();
    }
    const uint64_t spinner = f.truth["spinner"]["goid"].get<uint64_t>();
    ASSERT_TRUE(by_goid.count(spinner)) << j.dump();
    EXPECT_EQ(by_goid[spinner]["func"], "spin_outer");
    f.proc.Signal(SIGTERM);
    EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
  }
}

// Thread ids by namespace: /proc/HOSTPID/task/*/status "NSpid: host ns".
std::map<int64_t, int64_t> HostTidsByNamespaceTid(pid_t host_pid) {
  std::map<int64_t, int64_t> out;
  const std::string task = "/proc/" + std::to_string(host_pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(task)) {
    for (const std::string& line : Lines(ReadFile(entry.path().string() + "/status"))) {
      if (line.starts_with("NSpid:")) {
        std::istringstream in(line.substr(6));
        int64_t host = 0;
        int64_t ns = 0;
        in >> host >> ns;
        out[ns] = host;
      }
    }
  }
  return out;
}

// A target in a PID namespace of its own (a container): PIDs and thread ids
// are shown as the namespace cgotrace runs in numbers them. From the host,
// the host's (what host `ps`/`top` show); from inside the container, the
// container's, which are the ids the fixture itself reports.
TEST_F(SampleTest, ThreadIdsAreThoseOfTheReadersPidNamespace) {
  const std::string truth_path = dir_.File("ns.truth.json");
  Process app = Process::Start({"unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                                Fixture("incgo"), "-blocked", "2", "-truth", truth_path},
                               dir_.File("ns.out"), dir_.File("ns.err"));
  ASSERT_TRUE(app.WaitForLine(Stream::kStdout, "READY", kTimeout)) << app.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  std::vector<pid_t> kids = ChildrenOf(app.pid());
  ASSERT_EQ(kids.size(), 1u) << "unshare's child, the fixture";
  const pid_t host_pid = kids[0];
  ASSERT_NE(host_pid, (*truth)["pid"].get<pid_t>()) << "the fixture must see another PID";
  std::map<int64_t, int64_t> host_tid = HostTidsByNamespaceTid(host_pid);

  // From the host.
  Json top = TopOnce(dir_, host_pid);
  EXPECT_EQ(top["pid"].get<pid_t>(), host_pid);
  for (const Json& g : (*truth)["blocked"]) {
    const Json* c = CallOf(top, g["goid"].get<uint64_t>());
    ASSERT_NE(c, nullptr) << top.dump();
    const int64_t ns_tid = g["tid"].get<int64_t>();
    ASSERT_TRUE(host_tid.count(ns_tid)) << ns_tid;
    EXPECT_EQ((*c)["tid"].get<int64_t>(), host_tid[ns_tid]) << c->dump();
    EXPECT_EQ((*c)["func"], "block_outer");
  }

  // From inside the container's PID (and mount, for its /proc) namespace.
  RunResult in = RunCommand({"nsenter", "-t", std::to_string(host_pid), "-p", "-m", "--",
                             CgotraceBin(), "top", "-p", std::to_string((*truth)["pid"].get<int>()),
                             "--once", "--format", "json", "--interval", "300ms"},
                            dir_, kTimeout);
  ASSERT_TRUE(in.status.Ok()) << in.Describe();
  auto inner = ParseJson(in.out, &error);
  ASSERT_TRUE(inner) << error << in.Describe();
  EXPECT_EQ((*inner)["pid"], (*truth)["pid"]);
  ExpectTopMatchesTruth(*inner, *truth, "inside the namespace", true);

  ASSERT_EQ(kill(host_pid, SIGTERM), 0);
  EXPECT_TRUE(app.WaitOrKill(20s).Ok()) << app.Describe();
}

TEST_F(SampleTest, AgesOfCallsThatNeverReturnGrow) {
  Incgo f = StartIncgo(dir_, "incgo", 2);
  ASSERT_FALSE(f.truth.is_null());
  const uint64_t goid = f.truth["blocked"][0]["goid"].get<uint64_t>();
  // Live mode with JSON: one snapshot per line, every 200 ms.
  Process top = Process::Start(
      Cli({"top", "-p", std::to_string(f.proc.pid()), "--format", "json", "--interval", "200ms"}),
      dir_.File("top.out"), dir_.File("top.err"));
  std::this_thread::sleep_for(1500ms);
  top.Signal(SIGINT);
  ExitStatus st = top.WaitOrKill(20s);
  ASSERT_TRUE(st.Ok()) << top.Describe();
  std::vector<uint64_t> ages;
  for (const std::string& line : Lines(top.Stdout())) {
    std::string error;
    auto j = ParseJson(line, &error);
    ASSERT_TRUE(j) << error << ": " << line;
    const Json* c = CallOf(*j, goid);
    ASSERT_NE(c, nullptr) << line;
    EXPECT_FALSE((*c)["age_exact"].get<bool>()) << "began before attach: " << line;
    ages.push_back((*c)["age_ns"].get<uint64_t>());
  }
  ASSERT_GE(ages.size(), 4u) << top.Describe();
  EXPECT_EQ(ages.front(), 0u) << "the first sample is when cgotrace first saw the call";
  for (size_t i = 1; i < ages.size(); ++i) {
    // Each snapshot is ~200 ms after the previous one.
    EXPECT_GE(ages[i], ages[i - 1] + 150'000'000u) << "snapshot " << i;
    EXPECT_LE(ages[i], ages[i - 1] + 1'000'000'000u) << "snapshot " << i;
  }
  f.proc.Signal(SIGTERM);
  EXPECT_TRUE(f.proc.WaitOrKill(20s).Ok()) << f.proc.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
