#include "cgotrace/session.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>

#include "trace/process.h"

namespace cgotrace {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int /*sig*/) { g_stop.store(true); }

// Blocks in the child until the parent has attached, then execs. The parent
// closes its end of the pipe once the probes are in place; EOF is the signal.
[[noreturn]] void ChildExec(int ready_fd, const std::vector<std::string>& command,
                            const std::string& path) {
  char byte;
  ssize_t n;
  do {
    n = read(ready_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || byte != 'G') {
    _exit(127);  // the parent failed to attach and said so
  }
  close(ready_fd);
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const std::string& arg : command) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  execv(path.c_str(), argv.data());
  // Nothing more can be done about a failed write here: the child exits.
  (void)fprintf(stderr, "cgotrace: cannot execute %s: %s\n", path.c_str(), strerror(errno));
  _exit(127);
}

}  // namespace

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

Result<uint64_t> ParseDuration(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  double value = strtod(begin, &end);
  if (end == begin || errno != 0 || value < 0) {
    return MakeError("invalid duration '{}' (expected e.g. 500ms, 1s, 2m)", text);
  }
  std::string unit(end);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us" || unit == "µs") {
    scale = 1e3;
  } else if (unit == "ns") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else {
    return MakeError("invalid duration '{}' (unknown unit '{}')", text, unit);
  }
  // strtod accepts "inf", "nan" and 1e400; casting those, or anything at or
  // past 2^64 ns, to an integer is undefined (found by fuzz_flags).
  const double ns = value * scale;
  if (!std::isfinite(ns) || ns >= 18446744073709551616.0) {
    return MakeError("invalid duration '{}' (out of range)", text);
  }
  return static_cast<uint64_t>(ns);
}

void Session::InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed output pipe (| head) must end tracing cleanly, not kill us
  // before the probes are detached.
  (void)signal(SIGPIPE, SIG_IGN);
}

void Session::RequestStop() { g_stop.store(true); }

bool Session::StopRequested() { return g_stop.load(); }

Session::~Session() {
  if (child_ > 0 && child_status_ < 0) {
    // Never leave a launched child stopped at the starting gate.
    kill(child_, SIGTERM);
    int status = 0;
    waitpid(child_, &status, 0);
  }
}

Result<std::unique_ptr<Session>> Session::Start(const SessionOptions& options) {
  if (options.targets.empty()) {
    return MakeError("no target: give -p PID, --binary PATH or -- COMMAND");
  }
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  auto tracer = Tracer::Create(options.tracer);
  if (!tracer) {
    return tracer.error();
  }
  s->tracer_ = std::move(*tracer);
  for (pid_t pid : options.targets.pids) {
    auto report = s->tracer_->AddProcess(pid);
    if (!report) {
      return report.error();
    }
    s->watched_.push_back(pid);
    s->described_.push_back(fmt::format("PID {} ({})", pid, ProcessComm(pid)));
  }
  for (const std::string& path : options.targets.binaries) {
    auto report = s->tracer_->AddBinary(path, -1);
    if (!report) {
      return report.error();
    }
    s->described_.push_back(fmt::format("every process of {}", path));
  }
  if (!options.targets.command.empty()) {
    CGT_TRY(s->Launch(options.targets.command));
  }
  return s;
}

Result<void> Session::Launch(const std::vector<std::string>& command) {
  auto path = ResolveExecutable(command[0]);
  if (!path) {
    return path.error();
  }
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
    close(fds[1]);
    ChildExec(fds[0], command, *path);
  }
  close(fds[0]);
  child_ = child;
  // The uprobes filter on the child's PID, which exec keeps: they are armed
  // when exec maps the binary, before its first instruction runs.
  auto report = tracer_->AddBinary(*path, child);
  char go = report ? 'G' : 'X';
  ssize_t w = write(fds[1], &go, 1);
  close(fds[1]);
  if (!report) {
    int status = 0;
    waitpid(child, &status, 0);
    child_status_ = 127;
    return report.error();
  }
  if (w != 1) {
    return MakeError("cannot release launched command: {}", strerror(errno));
  }
  described_.push_back(fmt::format("PID {} ({})", child, command[0]));
  return Ok();
}

bool Session::ChildGone() {
  if (child_ <= 0 || child_status_ >= 0) {
    return true;
  }
  int status = 0;
  if (waitpid(child_, &status, WNOHANG) != child_) {
    return false;
  }
  child_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

bool Session::TargetsGone() {
  if (!options_.targets.binaries.empty()) {
    return false;  // new processes of the binary may still start
  }
  bool any = !ChildGone();
  for (pid_t pid : watched_) {
    any = any || ProcessAlive(pid);
  }
  return !any;
}

Result<uint64_t> Session::Run(const Tracer::EventCallback& on_event,
                              const std::function<void(uint64_t)>& on_tick) {
  uint64_t total = 0;
  const uint64_t start = MonotonicNs();
  uint64_t next_tick = options_.tick_ns ? start + options_.tick_ns : UINT64_MAX;
  while (!g_stop.load()) {
    auto n = tracer_->Poll(options_.poll_ms, on_event);
    if (!n) {
      return n.error();
    }
    total += static_cast<uint64_t>(*n);
    uint64_t now = MonotonicNs();
    if (now >= next_tick) {
      on_tick(now);
      next_tick += options_.tick_ns;
    }
    if (options_.duration_ns && now - start >= options_.duration_ns) {
      break;
    }
    if (TargetsGone()) {
      break;
    }
  }
  if (child_ > 0 && child_status_ < 0) {
    // We stop before the launched command did (signal or --duration): like
    // `perf stat --timeout`, end it rather than leave it running
    // unsupervised, and keep reading its events until it is gone so the
    // calls it completes on the way out are counted too.
    kill(child_, SIGTERM);
    const uint64_t deadline = MonotonicNs() + 5'000'000'000ULL;
    while (!ChildGone()) {
      if (MonotonicNs() > deadline) {
        kill(child_, SIGKILL);
      }
      auto n = tracer_->Poll(50, on_event);
      if (!n) {
        return n.error();
      }
      total += static_cast<uint64_t>(*n);
    }
  }
  // Everything BPF wrote before the targets exited is still in the ring.
  for (;;) {
    auto n = tracer_->Poll(0, on_event);
    if (!n) {
      return n.error();
    }
    if (*n == 0) {
      break;
    }
    total += static_cast<uint64_t>(*n);
  }
  return total;
}

}  // namespace cgotrace
