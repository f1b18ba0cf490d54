// Process helpers over /proc (through util/proc_fs.h): finding targets, their
// executables, PID namespaces, and turning what the user typed into the one
// path cgotrace attaches to. Thread-safe. Errors name the PID or path and
// what was wrong.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cgotrace/result.h"
#include "util/proc_fs.h"

namespace cgotrace {

// Path through which the kernel reaches the process's executable even from
// another mount namespace ("/proc/PID/exe"). Error if the PID does not exist
// or its exe cannot be read (kernel thread, no permission).
Result<std::string> ProcessExePath(pid_t pid);
// Alive and not a zombie (a PID only: see ProcessKey for remembered ones).
bool ProcessAlive(pid_t pid);
// Short command name (/proc/PID/comm).
std::string ProcessComm(pid_t pid);

// For "/proc/PID/exe": the file it points to, as that process's mount
// namespace names it, for records read after the process is gone. Other
// paths, and links that cannot be read, come back unchanged.
std::string ReadableExePath(const std::string& path);

// The tracer's own PID namespace (device and inode of /proc/self/ns/pid).
Result<FileId> OwnPidNamespace();

// Resolves a command to launch like execvp would (PATH search when it has
// no '/'), as an absolute path.
Result<std::string> ResolveExecutable(const std::string& name);

// The absolute, canonical path of a --binary argument, resolved once so that
// every later use (analysis, attach, messages) names the same file. A name
// without '/' is a file in the current directory, never a $PATH search:
// libbpf would search $PATH for it and attach at this file's offsets in
// another program (issue 12). /proc/PID/... paths are kept as they are
// (made absolute), since their links lead into other mount namespaces.
// Error if the file does not exist or is not a regular file.
Result<std::string> CanonicalBinaryPath(const std::string& path);

// A --binary argument as a follower of its processes keeps it: the canonical
// path and the identity of the file there now (a redeploy replaces it).
struct BinaryArgument {
  std::string path;
  FileId id;
};

// CanonicalBinaryPath and FileIdOf of `given`; errors start with "--binary".
Result<BinaryArgument> ResolveBinaryArgument(const std::string& given);

}  // namespace cgotrace
