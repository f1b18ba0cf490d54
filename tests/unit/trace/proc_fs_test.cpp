// /proc access through ProcFs: the one /proc/PID/stat parser, process
// identity by PID + start time, a session's target watch (exit, PID reuse,
// execve) against a fake /proc, and --binary path resolution.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_proc_fs.h"
#include "process/process.h"
#include "process/target_watch.h"
#include "util/proc_fs.h"

namespace cgotrace {
namespace {

using ::testing::HasSubstr;

TEST(ParseProcStatTest, CommWithSpacesAndParentheses) {
  auto st = ParseProcStat(StatLine(4242, "my (weird) app) x", 'R', 987654321));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->comm, "my (weird) app) x");
  EXPECT_EQ(st->state, 'R');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->start_time, 987654321u);
}

TEST(ParseProcStatTest, RejectsWhatIsNotAStatLine) {
  for (const std::string& bad :
       {std::string(""), std::string("1234"), std::string("x (a) S 1"),
        std::string("12 (a) S 1 2 3"), StatLine(1, "a", 'S', 5).substr(0, 40),
        std::string("12 (a) SS 1 12 12 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77")}) {
    EXPECT_FALSE(ParseProcStat(bad).ok()) << bad;
  }
}

TEST(ProcFsTest, RealProcFsSeesThisProcess) {
  const ProcFs& fs = RealProcFs();
  auto key = fs.Key(getpid());
  ASSERT_TRUE(key.has_value());
  EXPECT_GT(key->start_time, 0u);
  EXPECT_TRUE(fs.Alive(*key));
  EXPECT_FALSE(fs.Alive(ProcessKey{getpid(), key->start_time + 1}));
  auto pids = fs.ListPids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), getpid()), pids.end());
  auto exes = fs.Executables();
  ASSERT_TRUE(exes.contains(getpid()));
  EXPECT_EQ(exes[getpid()], *FileIdOf("/proc/self/exe"));
  EXPECT_FALSE(fs.Executables(getpid()).contains(getpid()));
}

TEST(ProcFsTest, ZombiesAndReusedPidsAreNotAlive) {
  FakeProcFs fs;
  fs.procs[10] = {"app", 'S', 100, {1, 7}, "/app"};
  ProcessKey key = *fs.Key(10);
  EXPECT_TRUE(fs.Alive(key));
  fs.procs[10].state = 'Z';
  EXPECT_FALSE(fs.Alive(10));
  fs.procs[10] = {"other", 'S', 555, {1, 8}, "/other"};  // PID reused
  EXPECT_TRUE(fs.Alive(10));
  EXPECT_FALSE(fs.Alive(key));
  EXPECT_EQ(fs.Comm(10), "other");
}

TEST(TargetWatchTest, ExitAndPidReuseEndTheTarget) {
  FakeProcFs fs;
  fs.procs[10] = {"app", 'S', 100, {1, 7}, "/app"};
  fs.procs[11] = {"app", 'S', 101, {1, 7}, "/app"};
  TargetWatch watch(fs);
  ASSERT_TRUE(watch.Add(10));
  ASSERT_TRUE(watch.Add(11));
  EXPECT_FALSE(watch.Add(12));  // no such process
  EXPECT_TRUE(watch.Poll().empty());

  // 10 exits and its PID goes to a new process at once: still gone.
  fs.procs[10] = {"sh", 'S', 900, {1, 99}, "/bin/sh"};
  auto changes = watch.Poll();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, TargetWatch::Change::Kind::kExited);
  EXPECT_EQ(changes[0].pid, 10);
  EXPECT_EQ(watch.size(), 1u);

  fs.procs.erase(11);
  changes = watch.Poll();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].pid, 11);
  EXPECT_TRUE(watch.empty());
}

TEST(TargetWatchTest, ExecOfAnotherFileIsReportedOnce) {
  FakeProcFs fs;
  fs.procs[10] = {"app", 'S', 100, {1, 7}, "/app"};
  TargetWatch watch(fs);
  ASSERT_TRUE(watch.Add(10));
  fs.procs[10].exe = {1, 8};
  fs.procs[10].exe_target = "/usr/bin/next";
  auto changes = watch.Poll();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, TargetWatch::Change::Kind::kExeced);
  EXPECT_EQ(changes[0].exe, "/usr/bin/next");
  EXPECT_TRUE(watch.Poll().empty());  // same image: nothing new
  watch.Remove(10);
  EXPECT_TRUE(watch.empty());
}

class CanonicalBinaryPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cgotrace-path-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/app") << "not really a program";
    ASSERT_EQ(symlink((dir_ + "/app").c_str(), (dir_ + "/link").c_str()), 0);
    ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
    char cwd[4096];
    ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
    old_cwd_ = cwd;
    ASSERT_EQ(chdir((dir_ + "/sub").c_str()), 0);
  }
  void TearDown() override {
    ASSERT_EQ(chdir(old_cwd_.c_str()), 0);
    ASSERT_EQ(system(("rm -rf " + dir_).c_str()), 0);
  }
  std::string dir_, old_cwd_;
};

// Issue 12: `--binary NAME` reached libbpf unchanged, which searched $PATH
// for it and put this file's probes into another program.
TEST_F(CanonicalBinaryPathTest, NamesBecomeAbsoluteAndNeverSearchPath) {
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  EXPECT_EQ(*CanonicalBinaryPath("app"), dir_ + "/app");
  EXPECT_EQ(*CanonicalBinaryPath("./app"), dir_ + "/app");
  EXPECT_EQ(*CanonicalBinaryPath("link"), dir_ + "/app");
  EXPECT_EQ(*CanonicalBinaryPath("sub/../app"), dir_ + "/app");
  // "sh" exists in $PATH but not here: an error, not /bin/sh.
  auto sh = CanonicalBinaryPath("sh");
  ASSERT_FALSE(sh.ok());
  EXPECT_THAT(sh.error().message, HasSubstr("sh: No such file"));
  auto dir = CanonicalBinaryPath("sub");
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(dir.error().message, HasSubstr("not a regular file"));
}

TEST_F(CanonicalBinaryPathTest, ProcPathsKeepTheirMagicLinks) {
  const std::string self = fmt::format("/proc/{}/exe", getpid());
  EXPECT_EQ(*CanonicalBinaryPath(self), self);
}

TEST_F(CanonicalBinaryPathTest, LaunchedCommandsResolveToAbsolutePaths) {
  auto sh = ResolveExecutable("sh");
  ASSERT_TRUE(sh.ok()) << sh.error().message;
  EXPECT_TRUE(sh->starts_with("/")) << *sh;
  std::ofstream(dir_ + "/sub/tool") << "#!/bin/sh\n";
  ASSERT_EQ(chmod((dir_ + "/sub/tool").c_str(), 0755), 0);
  EXPECT_EQ(*ResolveExecutable("./tool"), dir_ + "/sub/./tool");
}

}  // namespace
}  // namespace cgotrace
