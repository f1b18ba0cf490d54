#include "sampling.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cgotrace/session.h"
#include "sample/target_process.h"
#include "trace/process.h"
#include "util/clock.h"

namespace cgotrace::cli {

Result<std::unique_ptr<SampledProcess>> OpenSampledProcess(pid_t pid, bool verbose) {
  if (pid <= 0) {
    return MakeError("invalid PID {}", pid);
  }
  auto exe = ProcessExePath(pid);
  if (!exe) {
    return exe.error();
  }
  auto p = std::make_unique<SampledProcess>();
  p->pid = pid;
  p->comm = ProcessComm(pid);
  auto bin = GoBinary::Analyze(*exe);
  if (!bin) {
    return MakeError("PID {}: {}", pid, bin.error().message);
  }
  p->binary = std::move(*bin);
  auto bias = ExecutableLoadBias(pid, p->binary->elf());
  if (!bias) {
    return bias.error();
  }
  p->bias = *bias;
  auto sampler = Sampler::Open(pid, *p->binary, verbose);
  if (!sampler) {
    return MakeError("PID {}: {}", pid, sampler.error().message);
  }
  p->sampler = std::move(*sampler);
  p->namer = std::make_unique<FrameNamer>(pid, *p->binary, p->bias);
  return p;
}

Result<pid_t> LaunchCommand(const std::vector<std::string>& command) {
  auto path = ResolveExecutable(command.front());
  if (!path) {
    return path.error();
  }
  // A close-on-exec pipe: EOF tells the parent the exec happened; a byte
  // (errno) tells it the exec failed.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return MakeError("pipe: {}", strerror(errno));
  }
  pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return MakeError("fork: {}", strerror(errno));
  }
  if (child == 0) {
    close(fds[0]);
    std::vector<char*> argv;
    argv.reserve(command.size() + 1);
    for (const std::string& a : command) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    execv(path->c_str(), argv.data());
    int err = errno;
    (void)!write(fds[1], &err, sizeof(err));
    _exit(127);
  }
  close(fds[1]);
  int err = 0;
  ssize_t n;
  do {
    n = read(fds[0], &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  close(fds[0]);
  if (n > 0) {
    int status = 0;
    waitpid(child, &status, 0);
    return MakeError("cannot execute {}: {}", *path, strerror(err));
  }
  return child;
}

bool ChildExited(pid_t pid, int* status) {
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  return r < 0;
}

void SleepUntil(uint64_t deadline_ns) {
  // Short naps so a stop request is seen within 50 ms.
  constexpr uint64_t kNapNs = 50'000'000;
  for (;;) {
    uint64_t now = MonotonicNs();
    if (now >= deadline_ns || Session::StopRequested()) {
      return;
    }
    uint64_t nap = std::min(deadline_ns - now, kNapNs);
    timespec ts{static_cast<time_t>(nap / 1'000'000'000), static_cast<long>(nap % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace cgotrace::cli
