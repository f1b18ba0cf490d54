#include "process/launch.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "process/process.h"

namespace cgotrace {
namespace {

constexpr char kGo = 'G';

void CloseFd(int& fd) {
  if (fd >= 0) {
    close(fd);
    fd = -1;
  }
}

}  // namespace

Result<HeldChild> HeldChild::Start(const std::vector<std::string>& command) {
  if (command.empty()) {
    return MakeError("no command to launch");
  }
  auto path = ResolveExecutable(command.front());
  if (!path) {
    return path.error();
  }
  HeldChild held;
  held.path_ = std::move(*path);
  // Built before fork: the child must not allocate.
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const std::string& arg : command) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  // Both close-on-exec: the gate's read end goes with the exec, and EOF on
  // the exec pipe tells the parent the exec happened.
  int gate[2];
  int exec[2];
  if (pipe2(gate, O_CLOEXEC) != 0) {
    return MakeError("pipe: {}", strerror(errno));
  }
  if (pipe2(exec, O_CLOEXEC) != 0) {
    const int err = errno;
    close(gate[0]);
    close(gate[1]);
    return MakeError("pipe: {}", strerror(err));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    for (int fd : {gate[0], gate[1], exec[0], exec[1]}) {
      close(fd);
    }
    return MakeError("fork: {}", strerror(err));
  }
  if (pid == 0) {
    close(gate[1]);
    close(exec[0]);
    char byte = 0;
    ssize_t n;
    do {
      n = read(gate[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1 || byte != kGo) {
      _exit(127);  // the parent gave up (it said so)
    }
    execv(held.path_.c_str(), argv.data());
    const int err = errno;
    // Nothing more can be done about a failed write here: the child exits.
    (void)!write(exec[1], &err, sizeof(err));
    _exit(127);
  }
  close(gate[0]);
  close(exec[1]);
  held.pid_ = pid;
  held.gate_fd_ = gate[1];
  held.exec_fd_ = exec[0];
  return held;
}

HeldChild::HeldChild(HeldChild&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      gate_fd_(std::exchange(other.gate_fd_, -1)),
      exec_fd_(std::exchange(other.exec_fd_, -1)),
      path_(std::move(other.path_)) {}

HeldChild& HeldChild::operator=(HeldChild&& other) noexcept {
  if (this != &other) {
    Abort();
    pid_ = std::exchange(other.pid_, -1);
    gate_fd_ = std::exchange(other.gate_fd_, -1);
    exec_fd_ = std::exchange(other.exec_fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

HeldChild::~HeldChild() { Abort(); }

Result<pid_t> HeldChild::Release() {
  if (pid_ <= 0) {
    return MakeError("no held child to release");
  }
  ssize_t w;
  do {
    w = write(gate_fd_, &kGo, 1);
  } while (w < 0 && errno == EINTR);
  if (w != 1) {
    const int err = errno;
    Abort();
    return MakeError("cannot release launched command {}: {}", path_, strerror(err));
  }
  CloseFd(gate_fd_);
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(exec_fd_, &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  CloseFd(exec_fd_);
  const pid_t pid = std::exchange(pid_, -1);
  if (n > 0) {
    waitpid(pid, nullptr, 0);
    return MakeError("cannot execute {}: {}", path_, strerror(exec_errno));
  }
  return pid;
}

void HeldChild::Abort() {
  CloseFd(gate_fd_);  // EOF at the gate: the child exits without exec'ing
  CloseFd(exec_fd_);
  if (pid_ > 0) {
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

Result<pid_t> LaunchCommand(const std::vector<std::string>& command) {
  auto held = HeldChild::Start(command);
  if (!held) {
    return held.error();
  }
  return held->Release();
}

bool ReapIfExited(pid_t pid, int* status) {
  int st = 0;
  const pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  return r < 0;
}

}  // namespace cgotrace
