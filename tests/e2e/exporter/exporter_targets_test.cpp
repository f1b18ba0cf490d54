// `cgotrace exporter` following its targets as they change: a --binary file
// redeployed by rename (followed, the old file detached once its last
// process is gone), and --all-go attaching, detaching and releasing binary
// slots as processes come and go. Counts against the fixtures' own truth.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cgotrace_abi.h"
#include "checks.h"
#include "exporter_harness.h"
#include "harness.h"

namespace cgotrace::e2e {
namespace {

using ExporterTest = BpfTest;

// Issue 12, item 3: a deploy that renames a new file over the path (a new
// inode) left the probes on the old file: 0 events from the new process,
// nothing logged. The path is followed, and the log says so.
TEST_F(ExporterTest, BinaryPathIsFollowedAcrossARedeployByRename) {
  const std::string app = PrivateCopy(dir_, "cgocalls", "deploy-app");
  RunningExporter ex = StartExporter(dir_, "exporter", {"--binary", app, "--rescan", "300ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for processes of " + app, 5s))
      << ex.proc.Describe();

  const std::string next = dir_.File("deploy-app.next");
  std::filesystem::copy_file(Fixture("cgocalls"), next);
  ASSERT_EQ(rename(next.c_str(), app.c_str()), 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: " + app + " was replaced", 10s))
      << "the redeploy must be noticed and logged; " << ex.proc.Describe();

  const std::string truth_path = dir_.File("deploy.truth.json");
  Process p =
      Process::Start({app, "-scenarios=fast", "-goroutines=2", "-calls=250", "-truth", truth_path},
                     dir_.File("deploy.out"), dir_.File("deploy.err"));
  ASSERT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const int64_t expected = TruthCalls(*truth, "fast_add");
  std::map<std::string, double> after;
  WaitForSample(dir_, ex, FastCountKey("deploy-app"), expected, 15s, &after);
  EXPECT_EQ(SampleOr(after, FastCountKey("deploy-app"), -1), static_cast<double>(expected))
      << "every call of the process running the new file; " << ex.proc.Describe();

  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

// Issue 12, redeploys: the old file's probes stayed attached forever after a
// redeploy, with its analysis and mapping. Once no process runs the old
// file, its probes are detached: one set of probes is left, the new file's.
TEST_F(ExporterTest, ReplacedFileIsDetachedOnceItsLastProcessIsGone) {
  const std::string app = PrivateCopy(dir_, "cgocalls", "redeployed-app");
  RunningExporter ex = StartExporter(dir_, "exporter", {"--binary", app, "--rescan", "200ms"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for processes of " + app, 5s))
      << ex.proc.Describe();
  const double one_set = SampleOr(Scrape(dir_, ex), "cgotrace_probes_attached", -1);
  ASSERT_GT(one_set, 0);

  Process old_process =
      Process::Start({app, "-wait-signal", "-scenarios=fast", "-goroutines=1", "-calls=10"},
                     dir_.File("old.out"), dir_.File("old.err"));
  ASSERT_TRUE(old_process.WaitForLine(Stream::kStdout, "READY", 10s)) << old_process.Describe();
  const std::string next = dir_.File("redeployed-app.next");
  std::filesystem::copy_file(Fixture("cgocalls"), next);
  ASSERT_EQ(rename(next.c_str(), app.c_str()), 0);
  ASSERT_TRUE(ex.proc.WaitForLine(Stream::kStderr, "cgotrace: " + app + " was replaced", 10s))
      << ex.proc.Describe();
  // Both files attached while the old process may still call C.
  EXPECT_EQ(SampleOr(Scrape(dir_, ex), "cgotrace_probes_attached", -1), 2 * one_set);

  old_process.Signal(SIGUSR1);
  ASSERT_TRUE(old_process.WaitOrKill(30s).Ok()) << old_process.Describe();
  EXPECT_TRUE(
      ex.proc.WaitForLine(Stream::kStderr, "cgotrace: no process runs the replaced " + app, 10s))
      << ex.proc.Describe();
  std::map<std::string, double> after;
  WaitForSample(dir_, ex, "cgotrace_probes_attached", one_set, 5s, &after);
  EXPECT_EQ(SampleOr(after, "cgotrace_probes_attached", -1), one_set)
      << "the old file's probes must go with its last process; " << ex.proc.Describe();

  // The new file is still traced.
  const std::string truth_path = dir_.File("new.truth.json");
  Process p =
      Process::Start({app, "-scenarios=fast", "-goroutines=1", "-calls=40", "-truth", truth_path},
                     dir_.File("new.out"), dir_.File("new.err"));
  ASSERT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  const double expected = static_cast<double>(TruthCalls(*truth, "fast_add")) + 10;
  WaitForSample(dir_, ex, FastCountKey("redeployed-app"), expected, 10s, &after);
  EXPECT_EQ(SampleOr(after, FastCountKey("redeployed-app"), -1), expected);
  ex.proc.Signal(SIGTERM);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

// Issue 12, item 2: binary slots were never freed, so the exporter went
// blind after CGT_MAX_BINARIES distinct executables in its lifetime, however
// few ran at once. Now the limit counts binaries traced at the same time:
// more distinct executables than slots, one after another, are all traced.
TEST_F(ExporterTest, AllGoReleasesBinariesWhoseProcessesAreGone) {
  NamespacedExporter ns = StartExporterInPidNamespace(dir_, {"--all-go", "--rescan", "100ms"});
  ASSERT_GT(ns.pid, 0);
  RunningExporter& ex = ns.ex;
  const pid_t exporter_pid = ns.pid;

  const int kBinaries = CGT_MAX_BINARIES + 4;
  for (int k = 0; k < kBinaries; ++k) {
    SCOPED_TRACE("binary " + std::to_string(k));
    // A distinct file each time (its own inode), removed once used so the
    // test's disk use stays small.
    const std::string app = PrivateCopy(dir_, "cgocalls", "slot-app-" + std::to_string(k));
    const std::string truth = dir_.File("slot.truth.json");
    std::filesystem::remove(truth);
    Process p = Process::Start(
        {"nsenter", "-t", std::to_string(exporter_pid), "-p", "--", app, "-wait-signal",
         "-scenarios=fast", "-goroutines=1", "-calls=25", "-truth", truth},
        dir_.File("slot.out"), dir_.File("slot.err"));
    auto ready = p.WaitForLine(Stream::kStdout, "READY ", 10s);
    ASSERT_TRUE(ready) << p.Describe();
    const std::string pid = ready->substr(6);
    ASSERT_TRUE(WaitUntil(
        [&] { return ex.proc.Stderr().find("probes to PID " + pid + " (") != std::string::npos; },
        10s))
        << "PID " << pid << " (binary " << k << ") never attached: " << ex.proc.Describe();
    std::vector<pid_t> kid = ChildrenOf(p.pid());
    ASSERT_EQ(kid.size(), 1u) << p.Describe();
    ASSERT_EQ(kill(kid[0], SIGUSR1), 0);
    ASSERT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();
    ASSERT_TRUE(WaitUntil(
        [&] { return ex.proc.Stderr().find("PID " + pid + " exited") != std::string::npos; }, 10s))
        << ex.proc.Describe();
    std::string error;
    auto t = ReadTruth(truth, &error);
    ASSERT_TRUE(t) << error;
    const double expected = static_cast<double>(TruthCalls(*t, "fast_add"));
    std::map<std::string, double> after;
    WaitForSample(dir_, ex, FastCountKey("slot-app-" + std::to_string(k)), expected, 5s, &after);
    EXPECT_EQ(SampleOr(after, FastCountKey("slot-app-" + std::to_string(k)), -1), expected);
    EXPECT_EQ(SampleOr(after, "cgotrace_probes_attached", -1), 0);
    const std::string gauge =
        R"(cgotrace_threads_in_cgo{binary="slot-app-)" + std::to_string(k) + R"("})";
    EXPECT_EQ(SampleOr(after, gauge, -1), 0);
    std::filesystem::remove(app);
  }
  EXPECT_EQ(ex.proc.Stderr().find("at most"), std::string::npos) << ex.proc.Describe();
  ASSERT_EQ(kill(exporter_pid, SIGTERM), 0);  // the exporter, not unshare
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

// --all-go in a PID namespace of its own (so no other Go program of the host
// is touched): processes appear, get attached by PID, exit, get detached.
TEST_F(ExporterTest, AllGoAttachesAndDetachesProcessesAsTheyComeAndGo) {
  const std::string app = PrivateCopy(dir_, "cgocalls", "allgo-app");
  NamespacedExporter ns = StartExporterInPidNamespace(dir_, {"--all-go", "--rescan", "300ms"});
  ASSERT_GT(ns.pid, 0);
  RunningExporter& ex = ns.ex;
  const pid_t exporter_pid = ns.pid;
  auto before = Scrape(dir_, ex);
  EXPECT_EQ(SampleOr(before, "cgotrace_probes_attached", -1), 0);
  EXPECT_EQ(SampleOr(before, "cgotrace_processes_traced", -1), 0);

  int64_t expected = 0;
  double probes_per_process = 0;
  for (int round = 0; round < 2; ++round) {
    std::vector<Process> procs;
    std::vector<std::string> truths;
    std::vector<std::string> ns_pids;
    for (int i = 0; i < 2; ++i) {
      const std::string name = "app" + std::to_string(round) + "_" + std::to_string(i);
      truths.push_back(dir_.File(name + ".truth.json"));
      procs.push_back(Process::Start(
          {"nsenter", "-t", std::to_string(exporter_pid), "-p", "--", app, "-wait-signal",
           "-scenarios=fast", "-goroutines=2", "-calls=300", "-truth", truths.back()},
          dir_.File(name + ".out"), dir_.File(name + ".err")));
      auto ready = procs.back().WaitForLine(Stream::kStdout, "READY ", 10s);
      ASSERT_TRUE(ready) << procs.back().Describe();
      ns_pids.push_back(ready->substr(6));
    }
    // Attached by PID (the namespace's PIDs) before the calls start, so
    // every call is seen.
    for (const std::string& pid : ns_pids) {
      ASSERT_TRUE(WaitUntil(
          [&] { return ex.proc.Stderr().find("probes to PID " + pid + " (") != std::string::npos; },
          10s))
          << "PID " << pid << " never attached: " << ex.proc.Describe();
    }
    auto during = Scrape(dir_, ex);
    EXPECT_EQ(SampleOr(during, "cgotrace_processes_traced", -1), 2);
    if (round == 0) {
      probes_per_process = SampleOr(during, "cgotrace_probes_attached", -1) / 2;
      EXPECT_GT(probes_per_process, 0);
    } else {
      EXPECT_EQ(SampleOr(during, "cgotrace_probes_attached", -1), 2 * probes_per_process)
          << "probes of exited processes must not pile up";
    }
    for (Process& p : procs) {
      // nsenter forks; the fixture is its child.
      std::vector<pid_t> kid = ChildrenOf(p.pid());
      ASSERT_EQ(kid.size(), 1u) << p.Describe();
      ASSERT_EQ(kill(kid[0], SIGUSR1), 0);
    }
    for (Process& p : procs) {
      EXPECT_TRUE(p.WaitOrKill(60s).Ok()) << p.Describe();
    }
    for (const std::string& path : truths) {
      std::string error;
      auto truth = ReadTruth(path, &error);
      ASSERT_TRUE(truth) << error;
      expected += TruthCalls(*truth, "fast_add");
    }
    std::map<std::string, double> after;
    ASSERT_TRUE(WaitForSamples(
        dir_, ex, {{"cgotrace_probes_attached", 0}, {"cgotrace_processes_traced", 0}}, 10s, &after))
        << ex.proc.Describe();
    EXPECT_EQ(SampleOr(after, FastCountKey("allgo-app"), -1), static_cast<double>(expected));
    for (const std::string& pid : ns_pids) {
      EXPECT_NE(ex.proc.Stderr().find("cgotrace: PID " + pid + " exited"), std::string::npos)
          << ex.proc.Describe();
    }
  }
  ASSERT_EQ(kill(exporter_pid, SIGTERM), 0);
  ExitStatus st = ex.proc.WaitOrKill(15s);
  EXPECT_TRUE(st.Ok()) << ex.proc.Describe();
}

TEST_F(ExporterTest, AllGoWithNothingToAttachWaitsAndServes) {
  RunningExporter ex =
      StartExporter(dir_, "exporter", {"--all-go"},
                    {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"});
  ASSERT_GT(ex.port, 0);
  ASSERT_TRUE(
      ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for Go processes with cgo", 10s))
      << ex.proc.Describe();
  auto samples = Scrape(dir_, ex);
  EXPECT_EQ(SampleOr(samples, "cgotrace_processes_traced", -1), 0);
  EXPECT_EQ(SampleOr(samples, "cgotrace_probes_attached", -1), 0);
  bool has_build_info = false;
  for (const auto& [key, value] : samples) {
    has_build_info = has_build_info || (key.starts_with("cgotrace_build_info{") && value == 1);
  }
  EXPECT_TRUE(has_build_info);
  EXPECT_TRUE(ex.proc.Running());
  std::vector<pid_t> children = ChildrenOf(ex.proc.pid());
  ASSERT_EQ(children.size(), 1u);
  ASSERT_EQ(kill(children[0], SIGTERM), 0);
  EXPECT_TRUE(ex.proc.WaitOrKill(15s).Ok()) << ex.proc.Describe();
}

}  // namespace
}  // namespace cgotrace::e2e
