#include "cgotrace/session.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

#include "process/launch.h"
#include "process/process.h"
#include "process/target_watch.h"
#include "trace/follow_exec.h"
#include "util/clock.h"

namespace cgotrace {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int /*sig*/) { g_stop.store(true); }

}  // namespace

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

Session::Session() : watch_(std::make_unique<TargetWatch>(RealProcFs())) {}

Session::~Session() {
  if (child_ > 0 && child_status_ < 0) {
    // Never leave a launched child stopped at the starting gate.
    kill(child_, SIGTERM);
    int status = 0;
    waitpid(child_, &status, 0);
  }
}

Result<std::unique_ptr<Session>> Session::Start(const SessionOptions& options) {
  if (options.targets.empty() && options.source == nullptr) {
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
    if (!s->watch_->Add(pid)) {
      return MakeError("PID {} exited while attaching", pid);
    }
    s->described_.push_back(fmt::format("PID {} ({})", pid, ProcessComm(pid)));
  }
  for (const std::string& given : options.targets.binaries) {
    auto path = CanonicalBinaryPath(given);
    if (!path) {
      return MakeError("--binary {}", path.error().message);
    }
    auto report = s->tracer_->AddBinary(*path, -1);
    if (!report) {
      return report.error();
    }
    s->described_.push_back(fmt::format("every process of {}", *path));
  }
  if (options.source != nullptr) {
    std::lock_guard lock(s->mu_);
    CGT_TRY(options.source->Start(*s->tracer_));
  }
  if (!options.targets.command.empty()) {
    CGT_TRY(s->Launch(options.targets.command));
  }
  return s;
}

Result<void> Session::Launch(const std::vector<std::string>& command) {
  auto held = HeldChild::Start(command);
  if (!held) {
    return held.error();
  }
  // The uprobes filter on the child's PID, which exec keeps: they are armed
  // when exec maps the binary, before its first instruction runs. On error
  // the held child is ended without running.
  CGT_TRY(tracer_->AddBinary(held->path(), held->pid()));
  auto pid = held->Release();
  if (!pid) {
    return pid.error();
  }
  child_ = *pid;
  described_.push_back(fmt::format("PID {} ({})", child_, command[0]));
  // Watched as running the file it is about to execute: a later execve of
  // another program is followed like a -p target's (TargetsGone).
  if (auto id = FileIdOf(held->path()); id) {
    watch_->Add(child_, *id);
  }
  return Ok();
}

bool Session::ChildGone() {
  if (child_ <= 0 || child_status_ >= 0) {
    return true;
  }
  return ReapIfExited(child_, &child_status_);
}

bool Session::TargetsGone() {
  for (const TargetWatch::Change& c : watch_->Poll()) {
    if (c.kind != TargetWatch::Change::Kind::kExeced) {
      continue;
    }
    FollowExec(*tracer_, *watch_, c.pid, c.exe);
  }
  if (options_.source != nullptr || !options_.targets.binaries.empty()) {
    return false;  // targets may still come: a new process of the binary
  }
  const bool child_gone = ChildGone();
  return child_gone && watch_->empty();
}

Result<int> Session::Pump(int timeout_ms, const Tracer::EventCallback& on_event) {
  if (options_.source == nullptr) {
    // No other thread reads the tracer: wait in epoll for BPF's wakeup.
    std::lock_guard lock(mu_);
    return tracer_->Poll(timeout_ms, on_event);
  }
  Result<int> n = 0;
  {
    std::lock_guard lock(mu_);
    n = tracer_->Poll(0, on_event);
  }
  if (n && *n == 0 && timeout_ms > 0) {
    timespec ts{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1'000'000L};
    nanosleep(&ts, nullptr);  // a signal cuts it short: fine
  }
  return n;
}

Result<uint64_t> Session::Run(const Tracer::EventCallback& on_event,
                              const std::function<void(uint64_t)>& on_tick) {
  uint64_t total = 0;
  const uint64_t start = MonotonicNs();
  uint64_t next_tick = options_.tick_ns ? start + options_.tick_ns : UINT64_MAX;
  uint64_t next_rescan = options_.source ? start + options_.rescan_ns : UINT64_MAX;
  while (!g_stop.load()) {
    auto n = Pump(options_.poll_ms, on_event);
    if (!n) {
      return n.error();
    }
    total += static_cast<uint64_t>(*n);
    uint64_t now = MonotonicNs();
    std::lock_guard lock(mu_);
    if (now >= next_tick) {
      on_tick(now);
      next_tick += options_.tick_ns;
    }
    if (now >= next_rescan) {
      options_.source->Rescan(*tracer_);
      next_rescan = MonotonicNs() + options_.rescan_ns;
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
    child_stopped_ = true;
    const uint64_t deadline = MonotonicNs() + 5'000'000'000ULL;
    while (!ChildGone()) {
      if (MonotonicNs() > deadline) {
        kill(child_, SIGKILL);
      }
      auto n = Pump(50, on_event);
      if (!n) {
        return n.error();
      }
      total += static_cast<uint64_t>(*n);
    }
  }
  // Everything BPF wrote before the targets exited is still in the ring.
  for (;;) {
    auto n = Pump(0, on_event);
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
