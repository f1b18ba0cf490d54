// Targets in containers, built from the same kernel features containers use
// (unshare(1)), checked against the fixture's own truth:
//   - another mount namespace: the binary exists only on a tmpfs mounted in
//     the target's namespace, so the tracer reaches it only through
//     /proc/PID/exe (by -p, and by --binary /proc/PID/exe);
//   - another PID namespace: the fixture is PID 1 of its namespace and
//     reports namespace pid/tids in its truth, while cgotrace (in the host
//     namespace) must report host pids/tids - mapped through NSpid in
//     /proc/PID/task/TID/status;
//   - both at once (what a container runtime sets up);
//   - cgotrace itself inside a PID namespace with its target (a sidecar
//     sharing the pod's PID namespace): pids are that namespace's.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

constexpr auto kAttachTimeout = 30s;
constexpr auto kRunTimeout = 60s;

// Quoted for sh -c.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + Quote(a);
  return out;
}

std::string NsInode(pid_t pid, const std::string& ns) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + ns, ec);
  return ec ? "" : target.string();
}

// NSpid of a task: its id in every PID namespace from the reader's down to
// its own ("NSpid:\t4242\t1").
std::vector<pid_t> NsPids(const std::string& status_path) {
  std::ifstream in(status_path);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("NSpid:")) continue;
    std::istringstream f(line.substr(6));
    std::vector<pid_t> ids;
    for (pid_t id; f >> id;) ids.push_back(id);
    return ids;
  }
  return {};
}

// Namespace tid -> host tid of every thread of a (host) pid.
std::map<uint64_t, uint64_t> NsToHostTids(pid_t host_pid) {
  std::map<uint64_t, uint64_t> out;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(host_pid) + "/task", ec)) {
    auto ids = NsPids(task.path().string() + "/status");
    if (ids.size() >= 2) out[ids.back()] = ids.front();
  }
  return out;
}

// The only child of `parent` (unshare --fork's child), or -1.
pid_t OnlyChild(pid_t parent, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string path =
      "/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children";
  while (std::chrono::steady_clock::now() < deadline) {
    std::istringstream f(ReadFile(path));
    std::vector<pid_t> kids;
    for (pid_t k; f >> k;) kids.push_back(k);
    if (kids.size() == 1) return kids[0];
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

class ContainerTest : public BpfTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string Bin() const { return Fixture(GetParam()); }
  // Where the binary lives inside the target's mount namespace: a directory
  // that stays empty in ours.
  std::string HiddenDir() const { return dir_.File("rootfs"); }
  std::string HiddenBin() const { return HiddenDir() + "/nsapp"; }

  // sh -c script that mounts a tmpfs over HiddenDir() (in the namespace
  // unshare made), copies the fixture there and execs it, keeping its pid.
  std::vector<std::string> HiddenExec(const std::vector<std::string>& args) const {
    return {"/bin/sh", "-c",
            "mount -t tmpfs cgotrace-ns " + Quote(HiddenDir()) + " && cp " + Quote(Bin()) + " " +
                Quote(HiddenBin()) + " && exec " + ShellJoin(Concat({HiddenBin()}, args))};
  }

  // `linger`: how long the fixture stays after writing its truth; the PID
  // namespace tests read its threads' host tids in that time.
  std::vector<std::string> FixtureArgs(const std::string& truth_path,
                                       const std::string& linger = "0s") const {
    return Concat({"-wait-signal", "-truth=" + truth_path, "-linger=" + linger},
                  ModestCgocallsArgs());
  }

  // The binary must be reachable only through the target's /proc entries.
  void ExpectHiddenFromUs(pid_t pid) {
    EXPECT_FALSE(FileExists(HiddenBin())) << HiddenBin() << " is visible in the tracer's namespace";
    EXPECT_TRUE(FileExists("/proc/" + std::to_string(pid) + "/root" + HiddenBin()))
        << "the target should see its binary at " << HiddenBin();
    EXPECT_NE(NsInode(pid, "mnt"), NsInode(getpid(), "mnt")) << "same mount namespace";
  }

  // Attaches by host PID, releases the fixture, waits for both; returns the
  // events. `target` is the host pid of the fixture, `waiter` the process
  // the harness started (the fixture itself or unshare).
  std::vector<Json> TraceByPid(pid_t target, Process& waiter) {
    const std::string events_path = dir_.File("events.jsonl");
    Process ct = Process::Start({CgotraceBin(), "trace", "-p", std::to_string(target), "--format",
                                 "jsonl", "--output", events_path},
                                dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
    EXPECT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", kAttachTimeout))
        << ct.Describe();
    kill(target, SIGUSR1);
    EXPECT_TRUE(waiter.WaitOrKill(kRunTimeout).Ok()) << "target harmed: " << waiter.Describe();
    EXPECT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();
    return ReadEventsOrFail(events_path);
  }

  // Runs the fixture as PID 1 of a new PID namespace (plus, if hidden, a
  // private mount namespace with the tmpfs binary), attaches by host PID, and
  // checks events against the truth mapped to host ids.
  void RunInPidNamespace(const std::string& truth_path, bool hidden);
};

std::string ParamName(const ::testing::TestParamInfo<const char*>& info) {
  std::string n = info.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

// ---------------------------------------------------------------------------

TEST_P(ContainerTest, MountNamespaceAttachByPid) {
  std::filesystem::create_directory(HiddenDir());
  const std::string truth_path = dir_.File("truth.json");
  // No --fork: unshare and sh exec, so the fixture keeps the harness's pid.
  Process fixture = Process::Start(Concat({"unshare", "--mount", "--propagation", "private", "--"},
                                          HiddenExec(FixtureArgs(truth_path))),
                                   dir_.File("fixture.out"), dir_.File("fixture.err"));
  ASSERT_TRUE(fixture.WaitForLine(Stream::kStdout, "READY ", 20s)) << fixture.Describe();
  ASSERT_NO_FATAL_FAILURE(ExpectHiddenFromUs(fixture.pid()));

  const auto all = TraceByPid(fixture.pid(), fixture);
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  ASSERT_EQ(truth->at("pid").get<pid_t>(), fixture.pid());
  const auto events = ForPid(all, fixture.pid());
  EXPECT_EQ(events.size(), all.size()) << "events from processes that were not traced";
  ExpectMatchesCgocallsTruth(*truth, events, Window::kAfterSignal, CommOf(HiddenBin()));
}

TEST_P(ContainerTest, MountNamespaceBinaryViaProcExe) {
  std::filesystem::create_directory(HiddenDir());
  const std::string truth_path = dir_.File("truth.json");
  Process fixture = Process::Start(Concat({"unshare", "--mount", "--propagation", "private", "--"},
                                          HiddenExec(FixtureArgs(truth_path))),
                                   dir_.File("fixture.out"), dir_.File("fixture.err"));
  ASSERT_TRUE(fixture.WaitForLine(Stream::kStdout, "READY ", 20s)) << fixture.Describe();
  ASSERT_NO_FATAL_FAILURE(ExpectHiddenFromUs(fixture.pid()));

  // Every process of the binary the PID runs: the file in the other
  // namespace, named through the one path we have to it.
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start(
      {CgotraceBin(), "trace", "--binary", "/proc/" + std::to_string(fixture.pid()) + "/exe",
       "--format", "jsonl", "--output", events_path},
      dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", kAttachTimeout))
      << ct.Describe();
  fixture.Signal(SIGUSR1);
  EXPECT_TRUE(fixture.WaitOrKill(kRunTimeout).Ok()) << "target harmed: " << fixture.Describe();
  ASSERT_TRUE(ct.Running()) << "cgotrace --binary must keep running: " << ct.Describe();
  ct.Signal(SIGINT);
  ASSERT_TRUE(ct.WaitOrKill(20s).Ok()) << "SIGINT must detach cleanly: " << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const auto all = ReadEventsOrFail(events_path);
  const auto events = ForPid(all, fixture.pid());
  EXPECT_EQ(events.size(), all.size()) << "events from other processes";
  ExpectMatchesCgocallsTruth(*truth, events, Window::kAfterSignal, CommOf(HiddenBin()));
}

// Translates a truth written inside a PID namespace to host ids: its pid, and
// the locked goroutine's tid.
Json HostTruth(Json truth, pid_t host_pid, const std::map<uint64_t, uint64_t>& tids) {
  truth["pid"] = host_pid;
  for (auto& g : truth["goroutines"]) {
    const uint64_t tid = g.value("tid", uint64_t{0});
    if (tid == 0) continue;
    auto it = tids.find(tid);
    EXPECT_NE(it, tids.end()) << "no host tid for namespace tid " << tid;
    g["tid"] = it == tids.end() ? 0 : it->second;
  }
  return truth;
}

void ContainerTest::RunInPidNamespace(const std::string& truth_path, bool hidden) {
  std::vector<std::string> argv = {"unshare",      "--pid",         "--fork",  "--kill-child",
                                   "--mount-proc", "--propagation", "private", "--"};
  const std::vector<std::string> args = FixtureArgs(truth_path, "1s");
  argv = hidden ? Concat(argv, HiddenExec(args)) : Concat(Concat(argv, {Bin()}), args);
  Process unshare = Process::Start(argv, dir_.File("fixture.out"), dir_.File("fixture.err"));
  auto ready = unshare.WaitForLine(Stream::kStdout, "READY ", 20s);
  ASSERT_TRUE(ready) << unshare.Describe();
  EXPECT_EQ(*ready, "READY 1") << "the fixture should be PID 1 of its namespace";

  const pid_t host_pid = OnlyChild(unshare.pid(), 5s);
  ASSERT_GT(host_pid, 0) << "cannot find unshare's child";
  ASSERT_EQ(NsPids("/proc/" + std::to_string(host_pid) + "/status"),
            (std::vector<pid_t>{host_pid, 1}))
      << "host pid " << host_pid << " should be pid 1 one namespace down";
  EXPECT_NE(NsInode(host_pid, "pid"), NsInode(getpid(), "pid"));
  if (hidden) {
    ASSERT_NO_FATAL_FAILURE(ExpectHiddenFromUs(host_pid));
  }

  // Map tids while the fixture lingers after writing its truth.
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start({CgotraceBin(), "trace", "-p", std::to_string(host_pid), "--format",
                               "jsonl", "--output", events_path},
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitForLine(Stream::kStderr, "cgotrace: attached", kAttachTimeout))
      << ct.Describe();
  kill(host_pid, SIGUSR1);
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error << "; " << unshare.Describe();
  const auto tids = NsToHostTids(host_pid);
  EXPECT_EQ(truth->at("pid").get<pid_t>(), 1);
  EXPECT_TRUE(unshare.WaitOrKill(kRunTimeout).Ok()) << "target harmed: " << unshare.Describe();
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();

  const auto all = ReadEventsOrFail(events_path);
  const auto events = ForPid(all, host_pid);
  EXPECT_EQ(events.size(), all.size())
      << "every event must carry the host pid " << host_pid << ", not the namespace's";
  ExpectMatchesCgocallsTruth(HostTruth(*truth, host_pid, tids), events, Window::kAfterSignal,
                             hidden ? CommOf(HiddenBin()) : CommOf(Bin()));
}

// PID translation does not depend on how the binary was linked: these run on
// the plain build only, to keep the suite short.
class ContainerPidTest : public ContainerTest {};

TEST_P(ContainerPidTest, PidNamespaceHostPidsAndTids) {
  RunInPidNamespace(dir_.File("truth.json"), /*hidden=*/false);
}

TEST_P(ContainerTest, PidAndMountNamespaces) {
  std::filesystem::create_directory(HiddenDir());
  RunInPidNamespace(dir_.File("truth.json"), /*hidden=*/true);
}

// cgotrace and its target share a PID namespace that is not the initial one:
// events carry that namespace's pids and tids, the ones the fixture reports.
TEST_P(ContainerPidTest, TracerInsideThePidNamespace) {
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  const std::string out = dir_.File("app.out"), err = dir_.File("ct.err");
  // Bounded waits: the harness kills the whole group on timeout anyway.
  const std::string script =
      ShellJoin(Concat({Bin()}, FixtureArgs(truth_path))) + " >" + Quote(out) +
      " & app=$!\n"
      "i=0; until grep -q '^READY ' " +
      Quote(out) + "; do i=$((i+1)); [ $i -lt 400 ] || exit 90; sleep 0.05; done\n" +
      ShellJoin({CgotraceBin(), "trace", "-p"}) + " $app " +
      ShellJoin({"--format", "jsonl", "--output", events_path}) + " 2>" + Quote(err) +
      " & ct=$!\n"
      "i=0; until grep -q 'cgotrace: attached' " +
      Quote(err) +
      "; do i=$((i+1)); [ $i -lt 600 ] || exit 91; sleep 0.05; done\n"
      "kill -USR1 $app; wait $app || exit 92; wait $ct || exit 93\n"
      "echo app=$app\n";
  Process ns = Process::Start(
      {"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", script},
      dir_.File("ns.out"), dir_.File("ns.err"));
  ExitStatus st = ns.WaitOrKill(kRunTimeout);
  ASSERT_TRUE(st.Ok()) << ns.Describe() << "\ncgotrace stderr: " << ReadFile(err)
                       << "\nfixture stdout: " << ReadFile(out);

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const auto ns_pid = truth->at("pid").get<uint64_t>();
  EXPECT_NE(ns.Stdout().find("app=" + std::to_string(ns_pid)), std::string::npos) << ns.Stdout();
  EXPECT_LT(ns_pid, 100u) << "a fresh namespace's pid, not a host pid";
  const auto all = ReadEventsOrFail(events_path);
  const auto events = ForPid(all, ns_pid);
  EXPECT_EQ(events.size(), all.size()) << "events must carry the tracer's namespace pid " << ns_pid;
  // Truth pid and tid are already this namespace's.
  ExpectMatchesCgocallsTruth(*truth, events, Window::kAfterSignal, CommOf(Bin()));
}

INSTANTIATE_TEST_SUITE_P(Builds, ContainerTest, ::testing::Values("cgocalls", "cgocalls-pie"),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(Builds, ContainerPidTest, ::testing::Values("cgocalls"), ParamName);

}  // namespace
}  // namespace cgotrace::e2e
