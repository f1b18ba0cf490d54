// FollowExec: what every run loop does when a process it traces by PID
// replaced its program (execve), so `trace`, `stat`, `record` and the
// exporter follow an exec the same way.
//
// The probes of a PID sit in the executable it ran, which it no longer runs:
// they are detached (the tracer releases the old image's analysis and slot
// once no process uses it) and the new executable is analysed and attached.
// When the new program cannot be traced (not Go, no cgo, ...) the process is
// dropped from the watch and one line on stderr says it was lost and why.
//
// Not thread-safe: called on the thread that owns the tracer and the watch.
#pragma once

#include <sys/types.h>

#include <string>

#include "cgotrace/tracer.h"
#include "process/target_watch.h"

namespace cgotrace {

// `pid` (watched in `watch`) executed `exe` (as TargetWatch::Change says).
// True if its new program is traced now.
bool FollowExec(TargetAttacher& tracer, TargetWatch& watch, pid_t pid, const std::string& exe);

}  // namespace cgotrace
