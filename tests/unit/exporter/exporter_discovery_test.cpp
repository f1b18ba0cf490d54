// The exporter's process discovery (ProcessDiscovery) against a fake /proc
// and a fake tracer: processes that appear are attached, ones that exit are
// detached, a reused PID is a new process, and executables that are not Go
// programs with cgo are analysed once and then left alone, quietly. No root,
// no BPF: what the real tracer would say of an executable is the fake's
// table, keyed like the real one by the file (device, inode).
#include <unistd.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exporter/exporter.h"
#include "fake_proc_fs.h"

namespace cgotrace {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr FileId kGoApp{1, 10};   // a Go program with cgo
constexpr FileId kPython{1, 20};  // not a Go program
constexpr FileId kOldGo{1, 30};   // a Go release cgotrace does not support

// Attaches as the Tracer would, by the process's executable, and logs every
// call ("add PID", "remove PID") in order.
class FakeAttacher : public TargetAttacher {
 public:
  explicit FakeAttacher(FakeProcFs& fs) : fs_(fs) {
    refusals[kPython] = "not a Go binary (no Go build info)";
    refusals[kOldGo] = "go1.16.15 is not supported (go1.17 or newer)";
  }

  Result<AttachReport> AddProcess(pid_t pid) override {
    calls.push_back(fmt::format("add {}", pid));
    auto id = fs_.ExeId(pid);
    if (!id) {
      return MakeError("PID {}: {}", pid, id.error().message);
    }
    const std::string path = fs_.procs.at(pid).exe_target;
    if (auto it = refusals.find(*id); it != refusals.end()) {
      return MakeError("{}: {}", path, it->second);
    }
    if (during_add) {
      during_add(pid);
    }
    attached.insert(pid);
    return AttachReport{path, pid, 4};
  }
  Result<AttachReport> AddBinary(const std::string& path, pid_t pid) override {
    calls.push_back(fmt::format("binary {} {}", path, pid));
    return AttachReport{path, pid, 4};
  }
  void RemoveProcess(pid_t pid) override {
    calls.push_back(fmt::format("remove {}", pid));
    attached.erase(pid);
  }
  size_t RemoveFile(const FileId& id) override {
    calls.push_back(fmt::format("remove file {}", id.ino));
    return 4;
  }

  // Calls since the last TakeCalls().
  std::vector<std::string> TakeCalls() { return std::exchange(calls, {}); }

  std::map<FileId, std::string> refusals;  // executable -> why it is not traced
  std::function<void(pid_t)> during_add;   // runs inside a successful AddProcess
  std::vector<std::string> calls;
  std::set<pid_t> attached;

 private:
  FakeProcFs& fs_;
};

class DiscoveryTest : public ::testing::Test {
 protected:
  // PIDs far above any pid_max, so never the test's own PID (which
  // discovery skips).
  static constexpr pid_t kPid = 50'000'001;

  void SetUp() override { ASSERT_LT(getpid(), kPid); }

  FakeProcFs::Proc Go(uint64_t start) { return {"app", 'S', start, kGoApp, "/srv/app"}; }
  FakeProcFs::Proc Python(uint64_t start) {
    return {"python3", 'S', start, kPython, "/usr/bin/python3"};
  }

  static ExporterTargets AllGo() {
    ExporterTargets targets;
    targets.all_go = true;
    return targets;
  }

  // Runs `step` and returns what discovery wrote to stderr.
  std::string Stderr(const std::function<void()>& step) {
    ::testing::internal::CaptureStderr();
    step();
    return ::testing::internal::GetCapturedStderr();
  }

  FakeProcFs fs_;
  FakeAttacher tracer_{fs_};
  ProcessDiscovery discovery_{AllGo(), fs_};
};

TEST_F(DiscoveryTest, NewProcessIsAttached) {
  std::string log = Stderr([&] { ASSERT_TRUE(discovery_.Start(tracer_).ok()); });
  EXPECT_THAT(tracer_.TakeCalls(), IsEmpty());
  EXPECT_EQ(discovery_.processes_traced(), 0u);
  EXPECT_THAT(log, HasSubstr("cgotrace: waiting for Go processes with cgo\n"));

  fs_.procs[kPid] = Go(100);
  log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("add {}", kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 1u);
  EXPECT_EQ(log, fmt::format("cgotrace: attached 4 probes to PID {} (app)\n", kPid));

  // Attached once: later scans leave it be.
  log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(), IsEmpty());
  EXPECT_EQ(log, "");

  // A second process of the same executable is a process of its own.
  fs_.procs[kPid + 1] = Go(200);
  discovery_.Rescan(tracer_);
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("add {}", kPid + 1)));
  EXPECT_EQ(discovery_.processes_traced(), 2u);
}

TEST_F(DiscoveryTest, ExitedProcessIsDetached) {
  fs_.procs[kPid] = Go(100);
  fs_.procs[kPid + 1] = Go(200);
  ASSERT_TRUE(discovery_.Start(tracer_).ok());
  tracer_.TakeCalls();
  ASSERT_EQ(discovery_.processes_traced(), 2u);

  fs_.procs.erase(kPid);
  std::string log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("remove {}", kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 1u);
  EXPECT_EQ(log, fmt::format("cgotrace: PID {} exited; detached its probes\n", kPid));

  // A zombie runs no code: as good as gone.
  fs_.procs[kPid + 1].state = 'Z';
  discovery_.Rescan(tracer_);
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("remove {}", kPid + 1)));
  EXPECT_EQ(discovery_.processes_traced(), 0u);
  EXPECT_THAT(tracer_.attached, IsEmpty());
}

TEST_F(DiscoveryTest, ReusedPidIsANewProcess) {
  fs_.procs[kPid] = Go(100);
  ASSERT_TRUE(discovery_.Start(tracer_).ok());
  tracer_.TakeCalls();

  // Between two scans the process exits and its PID goes to a new process
  // of the same executable: the old attachment goes, the new process gets
  // its own.
  fs_.procs[kPid] = Go(900);
  std::string log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(),
              ElementsAre(fmt::format("remove {}", kPid), fmt::format("add {}", kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 1u);
  EXPECT_THAT(log, HasSubstr(fmt::format("PID {} exited", kPid)));
  EXPECT_THAT(log, HasSubstr(fmt::format("attached 4 probes to PID {}", kPid)));

  // The new process is remembered by its own start time: nothing more.
  discovery_.Rescan(tracer_);
  EXPECT_THAT(tracer_.TakeCalls(), IsEmpty());

  // Reused by a program that is not Go: detached, and not traced.
  fs_.procs[kPid] = Python(1000);
  discovery_.Rescan(tracer_);
  EXPECT_THAT(tracer_.TakeCalls(),
              ElementsAre(fmt::format("remove {}", kPid), fmt::format("add {}", kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 0u);
  EXPECT_THAT(tracer_.attached, IsEmpty());
}

// A traced process that executes another program keeps its PID and start
// time: the probes of the old executable are detached and the new one is
// attached, or one line says the process was lost and why.
TEST_F(DiscoveryTest, ExecedProcessIsFollowedOrSaidToBeLost) {
  fs_.procs[kPid] = Go(100);
  ASSERT_TRUE(discovery_.Start(tracer_).ok());
  tracer_.TakeCalls();

  constexpr FileId kOtherGo{1, 11};
  fs_.procs[kPid].exe = kOtherGo;
  fs_.procs[kPid].exe_target = "/srv/other";
  std::string log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(),
              ElementsAre(fmt::format("remove {}", kPid), fmt::format("add {}", kPid)));
  EXPECT_EQ(log,
            fmt::format("cgotrace: PID {} executed /srv/other; following it (4 probes)\n", kPid));
  EXPECT_EQ(discovery_.processes_traced(), 1u);

  // Into a program that cannot be traced: lost, said once, not tried again.
  fs_.procs[kPid].exe = kPython;
  fs_.procs[kPid].exe_target = "/usr/bin/python3";
  log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(),
              ElementsAre(fmt::format("remove {}", kPid), fmt::format("add {}", kPid)));
  EXPECT_THAT(
      log, HasSubstr(fmt::format("cgotrace: PID {} executed /usr/bin/python3, which cannot be "
                                 "traced: /usr/bin/python3: not a Go binary (no Go build info)\n",
                                 kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 0u);
  log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(), IsEmpty());
  EXPECT_THAT(log, Not(HasSubstr("python3")));
}

TEST_F(DiscoveryTest, NonGoExecutableIsAnalysedOnceAndIgnoredQuietly) {
  fs_.procs[kPid] = Python(100);
  std::string log = Stderr([&] { ASSERT_TRUE(discovery_.Start(tracer_).ok()); });
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("add {}", kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 0u);
  EXPECT_THAT(log, Not(HasSubstr("not tracing")));  // most of a host: not worth a line
  EXPECT_THAT(log, HasSubstr("waiting for Go processes with cgo"));

  // Neither the same process nor another of the same file is tried again;
  // a Go process started meanwhile is attached.
  fs_.procs[kPid + 1] = Python(200);
  fs_.procs[kPid + 2] = Go(300);
  log = Stderr([&] { discovery_.Rescan(tracer_); });
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("add {}", kPid + 2)));
  EXPECT_EQ(discovery_.processes_traced(), 1u);
  EXPECT_THAT(log, Not(HasSubstr("python")));

  // A refusal that is not the common case is said, once per executable.
  fs_.procs[kPid + 3] = {"old", 'S', 400, kOldGo, "/srv/old"};
  fs_.procs[kPid + 4] = {"old", 'S', 401, kOldGo, "/srv/old"};
  log = Stderr([&] {
    discovery_.Rescan(tracer_);
    discovery_.Rescan(tracer_);
  });
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("add {}", kPid + 3)));
  EXPECT_EQ(log, "cgotrace: not tracing /srv/old: go1.16.15 is not supported (go1.17 or newer)\n");
}

TEST_F(DiscoveryTest, OwnProcessAndInvisibleExecutablesAreSkipped) {
  fs_.procs[getpid()] = Go(100);                          // cgotrace itself
  fs_.procs[kPid] = {"kworker/0:1", 'I', 5, {0, 0}, ""};  // kernel thread: no exe
  ASSERT_TRUE(discovery_.Start(tracer_).ok());
  EXPECT_THAT(tracer_.TakeCalls(), IsEmpty());
  EXPECT_EQ(discovery_.processes_traced(), 0u);
}

TEST_F(DiscoveryTest, ProcessExitingWhileAttachedIsReleasedAndItsFileNotRefused) {
  fs_.procs[kPid] = Go(100);
  tracer_.during_add = [&](pid_t pid) { fs_.procs.erase(pid); };
  ASSERT_TRUE(discovery_.Start(tracer_).ok());
  EXPECT_THAT(tracer_.TakeCalls(),
              ElementsAre(fmt::format("add {}", kPid), fmt::format("remove {}", kPid)));
  EXPECT_EQ(discovery_.processes_traced(), 0u);

  // The executable was not refused: its next process is attached.
  tracer_.during_add = nullptr;
  fs_.procs[kPid + 1] = Go(200);
  discovery_.Rescan(tracer_);
  EXPECT_THAT(tracer_.TakeCalls(), ElementsAre(fmt::format("add {}", kPid + 1)));
  EXPECT_EQ(discovery_.processes_traced(), 1u);
}

}  // namespace
}  // namespace cgotrace
