// Session: one tracing run over a set of targets, from attach to detach.
//
// Shared by `trace`, `stat` (and later `record` and the exporter): it owns the
// Tracer, launches a command under tracing when asked (probes in place before
// the command's first instruction), watches the targets, and pumps events to a
// callback until SIGINT/SIGTERM, --duration, or every target has exited.
//
// Thread safety: one thread drives a Session. RequestStop() is
// async-signal-safe and may be called from a signal handler or any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cgotrace/event.h"
#include "cgotrace/result.h"
#include "cgotrace/tracer.h"

namespace cgotrace {

struct TargetSpec {
  std::vector<pid_t> pids;            // -p
  std::vector<std::string> binaries;  // --binary: all processes, now and later
  std::vector<std::string> command;   // after "--": launched under tracing
  bool empty() const { return pids.empty() && binaries.empty() && command.empty(); }
};

struct SessionOptions {
  TargetSpec targets;
  TracerOptions tracer;
  uint64_t duration_ns = 0;  // 0: until stopped or targets exit
  uint64_t tick_ns = 0;      // 0: no ticks
  int poll_ms = 100;         // upper bound on event latency
};

class Session {
 public:
  // Creates the tracer, attaches to every target and launches the command.
  // Errors name the target that failed; nothing stays attached on error.
  static Result<std::unique_ptr<Session>> Start(const SessionOptions& options);
  ~Session();

  // Pumps events until a stop condition, then drains what BPF already wrote.
  // `on_tick(now_ns)` runs every tick_ns. Returns the number of events.
  Result<uint64_t> Run(const Tracer::EventCallback& on_event,
                       const std::function<void(uint64_t)>& on_tick);

  // Launch mode: the command's exit status (128+signal if killed), or -1.
  int child_status() const { return child_status_; }
  TracerStats Stats() const { return tracer_->Stats(); }
  size_t probe_count() const { return tracer_->probe_count(); }
  ProgramStats ProgramRunStats() const { return tracer_->ProgramRunStats(); }
  // A short description of the attached targets, e.g. "PID 1234 (app)".
  const std::vector<std::string>& described_targets() const { return described_; }

  // Installs SIGINT/SIGTERM handlers that call RequestStop().
  static void InstallSignalHandlers();
  static void RequestStop();
  // Whether a stop was requested (signal or RequestStop), for run loops that
  // do not go through Run() (sampling: cgotrace top/profile).
  static bool StopRequested();

 private:
  Session() = default;
  Result<void> Launch(const std::vector<std::string>& command);
  bool TargetsGone();
  bool ChildGone();  // reaps the launched command; true if none or exited

  SessionOptions options_;
  std::unique_ptr<Tracer> tracer_;
  std::vector<pid_t> watched_;
  pid_t child_ = -1;
  int child_status_ = -1;
  std::vector<std::string> described_;
};

// "500ms", "1s", "2.5s", "1m", "100us", "10" (seconds). Error names the text.
Result<uint64_t> ParseDuration(const std::string& text);

uint64_t MonotonicNs();

}  // namespace cgotrace
