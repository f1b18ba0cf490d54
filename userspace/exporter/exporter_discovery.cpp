// Exporter process discovery: attach to processes as they appear (--all-go),
// detach from ones that exit, count the processes of --binary files.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string_view>

#include "exporter/exporter.h"

namespace cgotrace {
namespace {

// Start time of a process in clock ticks since boot (/proc/PID/stat field
// 22), or 0 if unreadable. A PID reused by a new process gets a new value.
uint64_t StartTime(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) {
    return 0;
  }
  // comm (field 2) may hold spaces and parentheses: fields resume after the
  // last ')'. Field 3 follows it, so field 22 is the 20th token after it.
  auto close = line.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::string_view rest(line);
  rest.remove_prefix(close + 1);
  int field = 2;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') {
      ++pos;
    }
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) {
      end = rest.size();
    }
    if (++field == 22) {
      return strtoull(std::string(rest.substr(pos, end - pos)).c_str(), nullptr, 10);
    }
    pos = end;
  }
  return 0;
}

// Every process's executable, by PID. Kernel threads and processes whose
// executable we may not see are left out.
std::map<pid_t, FileId> ScanExecutables(pid_t self) {
  std::map<pid_t, FileId> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) {
    return out;
  }
  while (dirent* de = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(de->d_name, &end, 10);
    if (end == de->d_name || *end != '\0' || pid <= 0 || pid == self) {
      continue;
    }
    struct stat st {};
    if (stat(fmt::format("/proc/{}/exe", pid).c_str(), &st) != 0) {
      continue;
    }
    out[static_cast<pid_t>(pid)] = {static_cast<uint64_t>(st.st_dev),
                                    static_cast<uint64_t>(st.st_ino)};
  }
  closedir(dir);
  return out;
}

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

}  // namespace

ProcessDiscovery::ProcessDiscovery(const ExporterTargets& targets, Tracer* tracer)
    : targets_(targets), tracer_(tracer), self_(getpid()) {}

Result<void> ProcessDiscovery::Start() {
  for (pid_t pid : targets_.pids) {
    auto report = tracer_->AddProcess(pid);
    if (!report) {
      return report.error();
    }
    attached_[pid] = {StartTime(pid)};
    fmt::print(stderr, "cgotrace: attached {} probes to PID {} ({})\n", report->probes, pid,
               ProcessComm(pid));
  }
  for (const std::string& path : targets_.binaries) {
    auto id = FileIdOf(path);
    if (!id) {
      return MakeError("--binary {}", id.error().message);
    }
    auto report = tracer_->AddBinary(path, -1);
    if (!report) {
      return report.error();
    }
    binary_ids_.push_back(*id);
    binary_counts_.push_back(SIZE_MAX);  // forces the first count's message
    fmt::print(stderr, "cgotrace: attached {} probes to every process of {}\n", report->probes,
               path);
  }
  Rescan();
  return Ok();
}

void ProcessDiscovery::Rescan() {
  DetachExited();
  std::map<pid_t, FileId> exes;
  if (targets_.all_go || !targets_.binaries.empty()) {
    exes = ScanExecutables(self_);
  }
  if (targets_.all_go) {
    AttachNewGoProcesses(exes);
  }
  CountBinaryProcesses(exes);

  std::set<pid_t> traced;
  for (const auto& [pid, a] : attached_) {
    traced.insert(pid);
  }
  for (const auto& [pid, id] : exes) {
    for (const FileId& b : binary_ids_) {
      if (id == b) {
        traced.insert(pid);
      }
    }
  }
  processes_traced_ = traced.size();
  if (targets_.all_go && attached_.empty() && !waiting_logged_) {
    fmt::print(stderr, "cgotrace: waiting for Go processes with cgo\n");
  }
  waiting_logged_ = targets_.all_go && attached_.empty();
}

void ProcessDiscovery::DetachExited() {
  for (auto it = attached_.begin(); it != attached_.end();) {
    const pid_t pid = it->first;
    if (ProcessAlive(pid) && StartTime(pid) == it->second.start_time) {
      ++it;
      continue;
    }
    // Uprobes filtered on a dead PID never fire again, but each holds a
    // perf event and a reference on the executable until closed.
    tracer_->RemoveProcess(pid);
    fmt::print(stderr, "cgotrace: PID {} exited; detached its probes\n", pid);
    it = attached_.erase(it);
  }
}

void ProcessDiscovery::AttachNewGoProcesses(const std::map<pid_t, FileId>& exes) {
  for (const auto& [pid, id] : exes) {
    if (attached_.contains(pid) || rejected_.contains({id.dev, id.ino})) {
      continue;
    }
    bool whole_binary = false;
    for (const FileId& b : binary_ids_) {
      whole_binary = whole_binary || id == b;
    }
    if (whole_binary) {
      continue;  // its --binary attachment already sees this process
    }
    auto report = tracer_->AddProcess(pid);
    if (report) {
      attached_[pid] = {StartTime(pid)};
      fmt::print(stderr, "cgotrace: attached {} probes to PID {} ({})\n", report->probes, pid,
                 ProcessComm(pid));
      continue;
    }
    // A process that exited mid-attach says nothing about its executable;
    // one still running was refused for good (each executable is analysed
    // once).
    if (ProcessAlive(pid)) {
      rejected_.insert({id.dev, id.ino});
      if (!ExpectedRejection(report.error().message)) {
        fmt::print(stderr, "cgotrace: not tracing {}\n", report.error().message);
      }
    }
  }
}

void ProcessDiscovery::CountBinaryProcesses(const std::map<pid_t, FileId>& exes) {
  for (size_t i = 0; i < binary_ids_.size(); ++i) {
    size_t n = 0;
    for (const auto& [pid, id] : exes) {
      n += id == binary_ids_[i] ? 1 : 0;
    }
    if (n == binary_counts_[i]) {
      continue;
    }
    binary_counts_[i] = n;
    if (n == 0) {
      fmt::print(stderr, "cgotrace: waiting for processes of {}\n", targets_.binaries[i]);
    } else {
      fmt::print(stderr, "cgotrace: {} process{} of {} running\n", n, n == 1 ? "" : "es",
                 targets_.binaries[i]);
    }
  }
}

}  // namespace cgotrace
