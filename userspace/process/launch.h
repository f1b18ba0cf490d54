// Launching the command cgotrace traces or samples (`-- COMMAND`).
//
// HeldChild forks the command and holds the child between fork and exec, so
// the caller can act on its PID first: the tracer attaches uprobes filtered
// on it, which exec keeps, so they are armed before the program's first
// instruction. Release() lets the child exec and returns once it has (from
// then on /proc/PID/exe is the program, not cgotrace), or says why it could
// not.
//
// Ownership: a HeldChild owns its child until Release() succeeds;
// destroying it before then (or Abort()) ends the child without exec'ing
// and reaps it. After Release() the caller owns the process and reaps it
// (ReapIfExited). Not thread-safe. Between fork and exec the child only
// makes system calls (no allocation), so a multithreaded caller is safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "cgotrace/result.h"

namespace cgotrace {

class HeldChild {
 public:
  // Resolves command[0] like execvp (ResolveExecutable) and forks it, held.
  // Errors: no such command, pipe or fork failure.
  static Result<HeldChild> Start(const std::vector<std::string>& command);

  HeldChild(HeldChild&& other) noexcept;
  HeldChild& operator=(HeldChild&& other) noexcept;
  HeldChild(const HeldChild&) = delete;
  HeldChild& operator=(const HeldChild&) = delete;
  ~HeldChild();

  pid_t pid() const { return pid_; }
  // The absolute path the child will exec.
  const std::string& path() const { return path_; }

  // Lets the child exec and waits until it has. Returns its PID, now the
  // caller's to reap. Error "cannot execute PATH: reason" when exec failed
  // (the child is reaped).
  Result<pid_t> Release();
  // Ends the held child without exec'ing (it exits 127) and reaps it.
  void Abort();

 private:
  HeldChild() = default;

  pid_t pid_ = -1;
  int gate_fd_ = -1;  // write end: one byte lets the child exec, EOF ends it
  int exec_fd_ = -1;  // read end: EOF once exec succeeded, else its errno
  std::string path_;
};

// Starts `command` and releases it at once: for callers with nothing to do
// before it runs. Returns its PID once it has exec'd.
Result<pid_t> LaunchCommand(const std::vector<std::string>& command);

// Reaps child `pid` if it has exited, without waiting: true when it is gone,
// with `*status` its exit status (128 + signal number if a signal ended it).
// Also true, `*status` unchanged, if `pid` is not a child of this process.
bool ReapIfExited(pid_t pid, int* status);

}  // namespace cgotrace
