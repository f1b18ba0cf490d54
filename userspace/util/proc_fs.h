// ProcFs: every read cgotrace makes of /proc goes through this one
// interface (leveldb's Env is the model), so process discovery, a session's
// target watching and anything else that asks "which processes run what"
// is unit-tested against a fake instead of the host's processes.
//
// The real implementation (RealProcFs()) reads /proc afresh on every call:
// no caching, so answers are as current as /proc itself. Implementations
// must be thread-safe for concurrent const calls; RealProcFs() is.
//
// A PID alone does not name a process: the kernel reuses PIDs. cgotrace
// identifies a process by its PID and start time (ProcessKey) everywhere it
// remembers one across time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/result.h"

namespace cgotrace {

// A file by device and inode: what a uprobe is attached to, whatever path
// reached it.
struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  // clang-tidy reads the synthesized <=> as comparing with a 0 literal.
  auto operator<=>(const FileId&) const = default;  // NOLINT(modernize-use-nullptr)
};

// Device and inode of `path` (stat(2), following links). Error names the
// path and errno.
Result<FileId> FileIdOf(const std::string& path);

// The fields of /proc/PID/stat that cgotrace uses.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;  // may hold spaces and parentheses
  char state = '?';  // R, S, D, Z, ...
  pid_t ppid = 0;
  uint64_t start_time = 0;  // clock ticks after boot (field 22)
};

// Parses one /proc/PID/stat line. Error on anything that is not one.
Result<ProcStat> ParseProcStat(std::string_view text);

// A process, unambiguously: a PID later reused by another process comes
// with another start time.
struct ProcessKey {
  pid_t pid = 0;
  uint64_t start_time = 0;
  // clang-tidy reads the synthesized <=> as comparing with a 0 literal.
  auto operator<=>(const ProcessKey&) const = default;  // NOLINT(modernize-use-nullptr)
};

class ProcFs {
 public:
  virtual ~ProcFs() = default;

  // Every process (thread-group leader) now in /proc, ascending.
  virtual std::vector<pid_t> ListPids() const = 0;
  // The contents of /proc/PID/<name> ("stat", "comm", "status", "maps",
  // "cmdline"). Error names the file and the reason (gone, no permission).
  virtual Result<std::string> ReadFile(pid_t pid, std::string_view name) const = 0;
  // Device and inode of the process's executable (stat of /proc/PID/exe).
  virtual Result<FileId> ExeId(pid_t pid) const = 0;
  // Where /proc/PID/exe points, as the process's mount namespace names it
  // (may end in " (deleted)").
  virtual Result<std::string> ExeTarget(pid_t pid) const = 0;

  // Derived from the above, implemented once for every ProcFs.
  Result<ProcStat> Stat(pid_t pid) const;
  // The running process `pid` (nullopt: no such process, or a zombie,
  // whose probes can never fire again).
  std::optional<ProcessKey> Key(pid_t pid) const;
  bool Alive(pid_t pid) const { return Key(pid).has_value(); }
  // Still the same process: alive with the same start time.
  bool Alive(const ProcessKey& key) const;
  // /proc/PID/comm without its newline; "" when unreadable.
  std::string Comm(pid_t pid) const;
  // Every process's executable, except `skip` and processes whose
  // executable cannot be seen (kernel threads, no permission).
  std::map<pid_t, FileId> Executables(pid_t skip = 0) const;
};

// The host's /proc.
const ProcFs& RealProcFs();

}  // namespace cgotrace
