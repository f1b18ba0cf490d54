// FakeProcFs: an in-memory /proc for unit tests of code that reads /proc
// through ProcFs (util/proc_fs.h): process discovery, target watching.
//
// A test fills `procs` (PID -> comm, state, start time, executable) and
// changes it between calls to play processes starting, exiting, exec'ing or
// a PID being reused. Only "stat" and "comm" are served by ReadFile; other
// files are an error naming what is not faked. Not thread-safe (tests drive
// it from one thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cgotrace/result.h"
#include "util/proc_fs.h"

namespace cgotrace {

// A /proc/PID/stat line as kernel 6.18 writes it: fields 3..22 of a real
// line, with the start time in field 22.
inline std::string StatLine(pid_t pid, const std::string& comm, char state, uint64_t start) {
  return fmt::format(
      "{} ({}) {} 1 {} {} 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 5 0 {} 7208960 "
      "1152 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
      pid, comm, state, pid, pid, start);
}

class FakeProcFs : public ProcFs {
 public:
  struct Proc {
    std::string comm;
    char state = 'S';
    uint64_t start = 0;
    FileId exe;  // ino 0: the executable cannot be seen (a kernel thread)
    std::string exe_target;
  };
  std::map<pid_t, Proc> procs;

  std::vector<pid_t> ListPids() const override {
    std::vector<pid_t> out;
    for (const auto& [pid, p] : procs) out.push_back(pid);
    return out;
  }
  Result<std::string> ReadFile(pid_t pid, std::string_view name) const override {
    auto it = procs.find(pid);
    if (it == procs.end()) return MakeError("cannot read /proc/{}/{}: gone", pid, name);
    if (name == "stat") return StatLine(pid, it->second.comm, it->second.state, it->second.start);
    if (name == "comm") return it->second.comm + "\n";
    return MakeError("not faked: {}", name);
  }
  Result<FileId> ExeId(pid_t pid) const override {
    auto it = procs.find(pid);
    // Like /proc/PID/exe, which a zombie no longer has.
    if (it == procs.end() || it->second.exe.ino == 0 || it->second.state == 'Z') {
      return MakeError("no exe");
    }
    return it->second.exe;
  }
  Result<std::string> ExeTarget(pid_t pid) const override {
    auto it = procs.find(pid);
    if (it == procs.end()) return MakeError("no exe");
    return it->second.exe_target;
  }
};

}  // namespace cgotrace
