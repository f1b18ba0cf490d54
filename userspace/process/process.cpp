#include "process/process.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace cgotrace {
namespace {

std::string CurrentDir() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string(".");
}

std::string Absolute(const std::string& path) {
  return path.starts_with("/") ? path : CurrentDir() + "/" + path;
}

}  // namespace

Result<std::string> ProcessExePath(pid_t pid) {
  if (pid <= 0) {
    return MakeError("invalid PID {}", pid);
  }
  if (!RealProcFs().Stat(pid)) {
    return MakeError("no process with PID {}", pid);
  }
  auto target = RealProcFs().ExeTarget(pid);
  if (!target) {
    return MakeError(
        "PID {} has no executable cgotrace can read (kernel thread, exiting, or no "
        "permission): {}",
        pid, target.error().message);
  }
  // /proc/PID/exe reaches the file even when it lives in another mount
  // namespace (a container) or was deleted after exec.
  return fmt::format("/proc/{}/exe", pid);
}

std::string ReadableExePath(const std::string& path) {
  pid_t pid = 0;
  if (sscanf(path.c_str(), "/proc/%d/exe", &pid) != 1 || path != fmt::format("/proc/{}/exe", pid)) {
    return path;
  }
  auto target = RealProcFs().ExeTarget(pid);
  return target ? *target : path;
}

bool ProcessAlive(pid_t pid) { return RealProcFs().Alive(pid); }

std::string ProcessComm(pid_t pid) { return RealProcFs().Comm(pid); }

Result<FileId> OwnPidNamespace() { return FileIdOf("/proc/self/ns/pid"); }

Result<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) {
    return MakeError("empty command");
  }
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) {
      return MakeError("{}: {}", name, strerror(errno));
    }
    return Absolute(name);
  }
  const char* path_env = getenv("PATH");
  std::stringstream path(path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(path, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) {
      return Absolute(candidate);
    }
  }
  return MakeError("{}: command not found in PATH", name);
}

Result<std::string> CanonicalBinaryPath(const std::string& path) {
  if (path.empty()) {
    return MakeError("--binary: empty path");
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return MakeError("{}: {}", path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError("{}: not a regular file", path);
  }
  const std::string absolute = Absolute(path);
  if (absolute.starts_with("/proc/")) {
    return absolute;
  }
  char* real = realpath(absolute.c_str(), nullptr);
  if (real == nullptr) {
    return MakeError("{}: {}", path, strerror(errno));
  }
  std::string out(real);
  free(real);  // NOLINT(cppcoreguidelines-no-malloc): realpath's contract
  return out;
}

Result<BinaryArgument> ResolveBinaryArgument(const std::string& given) {
  auto path = CanonicalBinaryPath(given);
  if (!path) {
    return MakeError("--binary {}", path.error().message);
  }
  auto id = FileIdOf(*path);
  if (!id) {
    return MakeError("--binary {}", id.error().message);
  }
  return BinaryArgument{std::move(*path), *id};
}

}  // namespace cgotrace
