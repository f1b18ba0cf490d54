// Process helpers over /proc: finding targets, their executables and load
// addresses, and PID namespaces. All functions read /proc afresh (no caching)
// and are thread-safe. Errors name the PID and what was wrong.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cgotrace/result.h"

namespace cgotrace {

// Path through which the kernel reaches the process's executable even from
// another mount namespace ("/proc/PID/exe"). Error if the PID does not exist
// or its exe cannot be read (kernel thread, no permission).
Result<std::string> ProcessExePath(pid_t pid);
bool ProcessAlive(pid_t pid);
// Short command name (/proc/PID/comm).
std::string ProcessComm(pid_t pid);

struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileId&) const = default;
};
Result<FileId> FileIdOf(const std::string& path);

// PIDs whose /proc/PID/exe is the file `id` (same device and inode).
std::vector<pid_t> FindProcessesByFile(const FileId& id);

// The tracer's own PID namespace (device and inode of /proc/self/ns/pid).
Result<FileId> OwnPidNamespace();

// Resolves `name` like execvp would (PATH search when it has no '/').
Result<std::string> ResolveExecutable(const std::string& name);

}  // namespace cgotrace
