// Launching a command (process/launch.h): the child is held before exec until
// released, then runs the command; a command that cannot be executed is an
// error naming it; an aborted child never runs it. Real processes, no root.
#include "process/launch.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "process/process.h"

namespace cgotrace {
namespace {

using ::testing::HasSubstr;

std::string ExeOf(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid), ec).string();
}

TEST(HeldChildTest, RunsTheCommandOnlyOnceReleased) {
  auto held = HeldChild::Start({"sleep", "30"});
  ASSERT_TRUE(held.ok()) << held.error().message;
  const pid_t pid = held->pid();
  ASSERT_GT(pid, 0);
  // Held: still a copy of this program.
  EXPECT_EQ(ExeOf(pid), ExeOf(getpid()));
  const std::string sleep_path = std::filesystem::canonical(held->path()).string();

  auto released = held->Release();
  ASSERT_TRUE(released.ok()) << released.error().message;
  EXPECT_EQ(*released, pid);
  // Release returns once the exec happened: the process is the command now.
  EXPECT_EQ(ExeOf(pid), sleep_path);
  int status = -1;
  EXPECT_FALSE(ReapIfExited(pid, &status));  // still sleeping
  EXPECT_EQ(status, -1);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  while (!ReapIfExited(pid, &status)) {
    usleep(1000);
  }
  EXPECT_EQ(status, 128 + SIGTERM);
}

TEST(HeldChildTest, ExitStatusOfTheCommand) {
  auto pid = LaunchCommand({"sh", "-c", "exit 7"});
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  int status = -1;
  while (!ReapIfExited(*pid, &status)) {
    usleep(1000);
  }
  EXPECT_EQ(status, 7);
  // Not a child any more: gone, status untouched.
  status = -1;
  EXPECT_TRUE(ReapIfExited(*pid, &status));
  EXPECT_EQ(status, -1);
}

TEST(HeldChildTest, ACommandThatCannotBeExecutedIsAnError) {
  char dir[] = "/tmp/cgotrace-launch-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/not-a-program";
  std::ofstream(path) << "text, no #! line\n";
  ASSERT_EQ(chmod(path.c_str(), 0755), 0);

  auto held = HeldChild::Start({path});
  ASSERT_TRUE(held.ok()) << held.error().message;
  const pid_t child = held->pid();
  auto pid = held->Release();
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.error().message, fmt::format("cannot execute {}: Exec format error", path));
  // The failed child was reaped.
  EXPECT_EQ(waitpid(child, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);

  auto missing = LaunchCommand({std::string(dir) + "/missing"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("missing: No such file or directory"));
  std::filesystem::remove_all(dir);
}

TEST(HeldChildTest, AnAbortedChildNeverRunsTheCommand) {
  char dir[] = "/tmp/cgotrace-launch-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string marker = std::string(dir) + "/ran";
  pid_t aborted = -1;
  pid_t dropped = -1;
  {
    auto held = HeldChild::Start({"touch", marker});
    ASSERT_TRUE(held.ok()) << held.error().message;
    aborted = held->pid();
    held->Abort();
    EXPECT_EQ(held->pid(), -1);
    auto again = HeldChild::Start({"touch", marker});
    ASSERT_TRUE(again.ok()) << again.error().message;
    dropped = again->pid();
    // Destroyed while held: aborted too.
  }
  for (pid_t pid : {aborted, dropped}) {
    EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1) << "not reaped: " << pid;
  }
  EXPECT_FALSE(std::filesystem::exists(marker));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cgotrace
