// TargetWatch: which of a session's -p processes still run, and which of
// them replaced their program (execve).
//
// A process is remembered by PID and start time (ProcessKey), so a PID that
// the kernel hands to a new process after the target exited counts as the
// target gone, not as the target still running. The executable is
// remembered by device and inode: an execve of another file changes it (the
// probes were placed in the old file, so they stop firing), an execve of
// the same file does not (its probes are re-armed when it is mapped again).
//
// Reads /proc only through the ProcFs it is given. Not thread-safe: the
// session's thread owns it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/proc_fs.h"

namespace cgotrace {

class TargetWatch {
 public:
  explicit TargetWatch(const ProcFs& fs) : fs_(fs) {}

  // Starts watching `pid` as it is now. False if it is not running.
  bool Add(pid_t pid);
  // Starts watching `pid` as running `exe` (a launched child that has not
  // yet executed it). False if it is not running.
  bool Add(pid_t pid, const FileId& exe);

  struct Change {
    enum class Kind { kExited, kExeced };
    Kind kind;
    pid_t pid;
    std::string exe;  // kExeced: where /proc/PID/exe points now
  };
  // What happened since the last call. Exited processes are forgotten;
  // exec'ed ones are watched with their new executable.
  std::vector<Change> Poll();

  // Stops watching `pid` (a target the session gave up on).
  void Remove(pid_t pid);

  bool Contains(pid_t pid) const;
  // The watched PIDs, in the order they were added.
  std::vector<pid_t> Pids() const;
  bool empty() const { return targets_.empty(); }
  size_t size() const { return targets_.size(); }

 private:
  struct Target {
    ProcessKey key;
    FileId exe;
  };
  const ProcFs& fs_;
  std::vector<Target> targets_;
};

}  // namespace cgotrace
