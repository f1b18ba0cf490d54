#include "trace/process.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace cgotrace {

Result<std::string> ProcessExePath(pid_t pid) {
  if (pid <= 0) {
    return MakeError("invalid PID {}", pid);
  }
  std::string proc = fmt::format("/proc/{}", pid);
  struct stat st {};
  if (stat(proc.c_str(), &st) != 0) {
    return MakeError("no process with PID {}", pid);
  }
  std::string exe = proc + "/exe";
  char buf[4096];
  ssize_t n = readlink(exe.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) {
    if (errno == ENOENT) {
      return MakeError("PID {} has no executable (kernel thread or exiting)", pid);
    }
    return MakeError("PID {}: cannot read {}: {}", pid, exe, strerror(errno));
  }
  // /proc/PID/exe reaches the file even when it lives in another mount
  // namespace (a container) or was deleted after exec.
  return exe;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) {
    return false;
  }
  if (kill(pid, 0) != 0 && errno == ESRCH) {
    return false;
  }
  // A zombie has exited: its probes will never fire again.
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) {
    return false;
  }
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

std::string ProcessComm(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/comm", pid));
  std::string comm;
  std::getline(in, comm);
  return comm;
}

Result<FileId> FileIdOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return MakeError("{}: {}", path, strerror(errno));
  }
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

std::vector<pid_t> FindProcessesByFile(const FileId& id) {
  std::vector<pid_t> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) {
    return out;
  }
  while (dirent* de = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(de->d_name, &end, 10);
    if (end == de->d_name || *end != '\0' || pid <= 0) {
      continue;
    }
    auto fid = FileIdOf(fmt::format("/proc/{}/exe", pid));
    if (fid && *fid == id && ProcessAlive(static_cast<pid_t>(pid))) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(dir);
  return out;
}

Result<FileId> OwnPidNamespace() { return FileIdOf("/proc/self/ns/pid"); }

Result<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) {
    return MakeError("empty command");
  }
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) {
      return MakeError("{}: {}", name, strerror(errno));
    }
    return name;
  }
  const char* path_env = getenv("PATH");
  std::stringstream path(path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(path, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return MakeError("{}: command not found in PATH", name);
}

}  // namespace cgotrace
