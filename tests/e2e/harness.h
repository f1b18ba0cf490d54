// Minimal process harness for cgotrace end-to-end tests: run a command from
// an argv (no shell), capture stdout/stderr to files, wait with timeouts,
// wait for a line to appear, read JSON/JSONL output.
//
// Every child runs in its own process group with SIGKILL as its parent-death
// signal, and a Process that is destroyed while its child still runs kills the
// whole group: a failed assertion or a hung tracer never leaves a traced
// fixture (or a tracer) behind for the next test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cgotrace::e2e {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Duration = std::chrono::milliseconds;

// Path of the cgotrace CLI under test.
std::string CgotraceBin();
// Path of a built Go fixture, e.g. Fixture("cgocalls").
std::string Fixture(std::string_view name);

// A fresh directory under $TMPDIR (or /tmp), removed on destruction unless
// CGOTRACE_E2E_KEEP is set in the environment (to look at outputs after a
// failure; its path is printed then).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

struct ExitStatus {
  bool exited = false;  // false: killed by a signal
  int code = -1;        // exit code when exited
  int signal = 0;       // terminating signal otherwise
  bool timed_out = false;

  bool Ok() const { return exited && code == 0 && !timed_out; }
  std::string Describe() const;
};

enum class Stream { kStdout, kStderr };

class Process {
 public:
  // Starts argv[0] (looked up in PATH if it has no '/'), stdout and stderr
  // redirected to the given files, stdin from /dev/null. Fails the current
  // test (and returns a Process whose pid() is -1) if it cannot be started.
  static Process Start(const std::vector<std::string>& argv, const std::string& stdout_path,
                       const std::string& stderr_path);

  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // True while the child has not exited (reaps it, without blocking, if it
  // has).
  bool Running();
  // Waits up to timeout for the child to exit; nullopt if it is still running.
  std::optional<ExitStatus> Wait(Duration timeout);
  // Waits up to timeout, then SIGKILLs the process group and reports
  // timed_out.
  ExitStatus WaitOrKill(Duration timeout);
  void Signal(int sig);
  // SIGKILLs the whole process group and reaps the child.
  void KillGroup();

  std::string Stdout() const;
  std::string Stderr() const;
  const std::string& stdout_path() const { return stdout_path_; }
  const std::string& stderr_path() const { return stderr_path_; }

  // Waits until a line starting with prefix appears on the stream. Returns the
  // whole line, or nullopt on timeout or if the process exited without
  // writing it.
  std::optional<std::string> WaitForLine(Stream stream, std::string_view prefix, Duration timeout);

  // One-line description for assertion messages: argv, status and output
  // tails.
  std::string Describe() const;

 private:
  pid_t pid_ = -1;
  std::vector<std::string> argv_;
  std::string stdout_path_;
  std::string stderr_path_;
  std::optional<ExitStatus> status_;
};

// Result of running a command to completion.
struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
  std::string Describe() const;
};

// Runs argv to completion (killed after timeout) with output captured in dir.
RunResult RunCommand(const std::vector<std::string>& argv, const TempDir& dir,
                     Duration timeout = 60s);

std::string ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// Splits on '\n', dropping a trailing empty line.
std::vector<std::string> Lines(std::string_view text);
// `a` followed by `b`: argument lists put together.
std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b);

// Parses a JSON document; on failure returns nullopt and describes why in
// *error.
std::optional<Json> ParseJson(std::string_view text, std::string* error);
// Reads one JSON object per non-empty line. On a malformed line returns
// nullopt and names the line in *error.
std::optional<std::vector<Json>> ReadJsonl(const std::string& path, std::string* error);

// Waits for a file to appear (fixtures write their truth atomically).
bool WaitForFile(const std::string& path, Duration timeout);

// A PID that belonged to a process which has exited and been reaped.
pid_t DeadPid();

// Reasons the BPF tests cannot run here (not root, bpf() refused, no BTF),
// or empty if they can.
std::string BpfUnavailableReason();

}  // namespace cgotrace::e2e
