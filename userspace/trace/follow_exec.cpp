#include "trace/follow_exec.h"

#include <fmt/format.h>

#include <cstdio>

namespace cgotrace {

bool FollowExec(TargetAttacher& tracer, TargetWatch& watch, pid_t pid, const std::string& exe) {
  tracer.RemoveProcess(pid);
  auto report = tracer.AddProcess(pid);
  if (report) {
    fmt::print(stderr, "cgotrace: PID {} executed {}; following it ({} probes)\n", pid, exe,
               report->probes);
    return true;
  }
  fmt::print(stderr, "cgotrace: PID {} executed {}, which cannot be traced: {}\n", pid, exe,
             report.error().message);
  watch.Remove(pid);
  return false;
}

}  // namespace cgotrace
