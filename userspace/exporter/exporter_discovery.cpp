// Exporter process discovery: attach to processes as they appear (--all-go),
// detach from ones that exit, follow --binary paths across redeploys, count
// the processes of --binary files.
#include <unistd.h>

#include <algorithm>

#include "exporter/exporter.h"
#include "trace/follow_exec.h"

namespace cgotrace {

// Most executables on a host are not Go programs with cgo; saying so for each
// would drown the log. Anything else (an unsupported Go version, a failed
// attach) is worth a line.
bool ExpectedRejection(const std::string& message) {
  for (const char* quiet : {"not a Go binary", "built without cgo", "ELF", "not a regular file",
                            "unsupported architecture"}) {
    if (message.find(quiet) != std::string::npos) {
      return true;
    }
  }
  return false;
}

ProcessDiscovery::ProcessDiscovery(const ExporterTargets& targets, const ProcFs& fs)
    : targets_(targets), fs_(fs), attached_(fs_), self_(getpid()) {}

Result<void> ProcessDiscovery::Start(TargetAttacher& tracer) {
  for (pid_t pid : targets_.pids) {
    // Read before attaching: an exec meanwhile is then seen as one.
    auto exe = fs_.ExeId(pid);
    auto report = tracer.AddProcess(pid);
    if (!report) {
      return report.error();
    }
    if (!exe || !attached_.Add(pid, *exe)) {
      return MakeError("PID {} exited while attaching", pid);
    }
    fmt::print(stderr, "cgotrace: attached {} probes to PID {} ({})\n", report->probes, pid,
               fs_.Comm(pid));
  }
  for (const std::string& given : targets_.binaries) {
    auto binary = ResolveBinaryArgument(given);
    if (!binary) {
      return binary.error();
    }
    auto report = tracer.AddBinary(binary->path, -1);
    if (!report) {
      return report.error();
    }
    binaries_.push_back({binary->path, {binary->id}});
    fmt::print(stderr, "cgotrace: attached {} probes to every process of {}\n", report->probes,
               binary->path);
  }
  Rescan(tracer);
  return Ok();
}

void ProcessDiscovery::Rescan(TargetAttacher& tracer) {
  FollowProcesses(tracer);
  FollowRedeploys(tracer);
  std::map<pid_t, FileId> exes;
  if (targets_.all_go || !binaries_.empty()) {
    exes = fs_.Executables(self_);
  }
  if (targets_.all_go) {
    AttachNewGoProcesses(tracer, exes);
  }
  DetachReplacedFiles(tracer, exes);
  CountBinaryProcesses(exes);

  std::set<pid_t> traced;
  for (pid_t pid : attached_.Pids()) {
    traced.insert(pid);
  }
  for (const auto& [pid, id] : exes) {
    if (OfBinaryTarget(id)) {
      traced.insert(pid);
    }
  }
  processes_traced_ = traced.size();
  if (targets_.all_go && attached_.empty() && !waiting_logged_) {
    fmt::print(stderr, "cgotrace: waiting for Go processes with cgo\n");
  }
  waiting_logged_ = targets_.all_go && attached_.empty();
}

void ProcessDiscovery::FollowProcesses(TargetAttacher& tracer) {
  for (const TargetWatch::Change& c : attached_.Poll()) {
    if (c.kind == TargetWatch::Change::Kind::kExited) {
      // Uprobes filtered on a dead PID never fire again, but each holds a
      // perf event and a reference on the executable until closed. A PID
      // reused by a new process is a new process: the next scan sees it.
      tracer.RemoveProcess(c.pid);
      fmt::print(stderr, "cgotrace: PID {} exited; detached its probes\n", c.pid);
      continue;
    }
    auto exe = fs_.ExeId(c.pid);
    if (exe && OfBinaryTarget(*exe)) {
      // A --binary attachment sees it already: probes by PID as well would
      // count its calls twice.
      tracer.RemoveProcess(c.pid);
      attached_.Remove(c.pid);
      fmt::print(stderr, "cgotrace: PID {} executed {}; traced as a process of --binary\n", c.pid,
                 c.exe);
      continue;
    }
    // Refused while still running: not analysed again, and said once (by
    // FollowExec).
    if (!FollowExec(tracer, attached_, c.pid, c.exe) && exe && fs_.Alive(c.pid)) {
      rejected_.insert(*exe);
    }
  }
}

void ProcessDiscovery::FollowRedeploys(TargetAttacher& tracer) {
  for (BinaryTarget& b : binaries_) {
    // A deploy that renames a new file over the path leaves the probes on
    // the old inode, which only the old processes still run.
    auto id = FileIdOf(b.path);
    if (!id || *id == b.ids.back()) {
      continue;  // gone for now (mid-deploy), or unchanged
    }
    auto report = tracer.AddBinary(b.path, -1);
    if (!report) {
      fmt::print(stderr, "cgotrace: {} was replaced; cannot trace the new file: {}\n", b.path,
                 report.error().message);
      b.ids.push_back(*id);  // said once per new file
      continue;
    }
    b.ids.push_back(*id);
    fmt::print(stderr, "cgotrace: {} was replaced (new inode {}); attached {} probes to it\n",
               b.path, id->ino, report->probes);
  }
}

void ProcessDiscovery::DetachReplacedFiles(TargetAttacher& tracer,
                                           const std::map<pid_t, FileId>& exes) {
  for (BinaryTarget& b : binaries_) {
    // Every file but the current one was replaced by a redeploy: once no
    // process runs it, nothing can start it again under the path, and its
    // probes, analysis and mapping would otherwise be kept forever.
    for (auto it = b.ids.begin(); it + 1 < b.ids.end();) {
      const FileId old = *it;
      const bool running = std::any_of(exes.begin(), exes.end(),
                                       [&](const auto& pid_id) { return pid_id.second == old; });
      if (running) {
        ++it;
        continue;
      }
      const size_t probes = tracer.RemoveFile(old);
      fmt::print(stderr,
                 "cgotrace: no process runs the replaced {} (inode {}) any more; detached its {} "
                 "probes\n",
                 b.path, old.ino, probes);
      it = b.ids.erase(it);
    }
  }
}

bool ProcessDiscovery::OfBinaryTarget(const FileId& id) const {
  return std::any_of(binaries_.begin(), binaries_.end(), [&](const BinaryTarget& b) {
    return std::find(b.ids.begin(), b.ids.end(), id) != b.ids.end();
  });
}

void ProcessDiscovery::AttachNewGoProcesses(TargetAttacher& tracer,
                                            const std::map<pid_t, FileId>& exes) {
  for (const auto& [pid, id] : exes) {
    if (attached_.Contains(pid) || rejected_.contains(id) || OfBinaryTarget(id)) {
      continue;  // a --binary attachment already sees this process
    }
    auto report = tracer.AddProcess(pid);
    auto key = fs_.Key(pid);
    // Watched as running `id`, read before attaching: an exec meanwhile is
    // seen as one at the next scan.
    if (report && key && attached_.Add(pid, id)) {
      fmt::print(stderr, "cgotrace: attached {} probes to PID {} ({})\n", report->probes, pid,
                 fs_.Comm(pid));
      continue;
    }
    if (report) {
      tracer.RemoveProcess(pid);  // exited while attaching
      continue;
    }
    // A process that exited mid-attach says nothing about its executable;
    // one still running was refused for good (each executable is analysed
    // once).
    if (key) {
      rejected_.insert(id);
      if (!ExpectedRejection(report.error().message)) {
        fmt::print(stderr, "cgotrace: not tracing {}\n", report.error().message);
      }
    }
  }
}

void ProcessDiscovery::CountBinaryProcesses(const std::map<pid_t, FileId>& exes) {
  for (BinaryTarget& b : binaries_) {
    size_t n = 0;
    for (const auto& [pid, id] : exes) {
      n += std::find(b.ids.begin(), b.ids.end(), id) != b.ids.end() ? 1 : 0;
    }
    if (n == b.count) {
      continue;
    }
    b.count = n;
    if (n == 0) {
      fmt::print(stderr, "cgotrace: waiting for processes of {}\n", b.path);
    } else {
      fmt::print(stderr, "cgotrace: {} process{} of {} running\n", n, n == 1 ? "" : "es", b.path);
    }
  }
}

}  // namespace cgotrace
