// Session: one tracing run over a set of targets, from attach to detach.
//
// The one run loop of cgotrace, shared by `trace`, `stat`, `record` and the
// exporter: it owns the Tracer, launches a command under tracing when asked
// (probes in place before the command's first instruction), watches the
// targets (PID + start time; an execve of another program is followed), and
// pumps events to a callback until SIGINT/SIGTERM, --duration, or every
// target has exited. Targets that come and go (the exporter's discovery)
// plug in as a TargetSource; the session then runs until stopped.
//
// Thread safety: one thread drives a Session (Start, Run, and every callback
// runs on it). Other threads reach the tracer only through WithTracer(),
// which holds the session's lock. With a TargetSource (the only case with
// such readers) Run() takes that lock around each drain, tick and rescan
// but not while it waits, so a reader never waits behind an idle poll.
// RequestStop() is async-signal-safe and may be called from a signal handler
// or any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cgotrace/event.h"
#include "cgotrace/result.h"
#include "cgotrace/tracer.h"

namespace cgotrace {

class TargetWatch;

struct TargetSpec {
  std::vector<pid_t> pids;            // -p
  std::vector<std::string> binaries;  // --binary: all processes, now and later
  std::vector<std::string> command;   // after "--": launched under tracing
  bool empty() const { return pids.empty() && binaries.empty() && command.empty(); }
};

// Targets that appear and vanish while a session runs: the exporter's
// process discovery. Both calls run on the session's thread with the
// session's lock held; they attach and detach through the tracer they get
// (a TargetAttacher, so a source is unit-tested with a fake one).
class TargetSource {
 public:
  virtual ~TargetSource() = default;
  // Initial attach; an error fails Session::Start (nothing stays attached).
  virtual Result<void> Start(TargetAttacher& tracer) = 0;
  // Called every SessionOptions::rescan_ns.
  virtual void Rescan(TargetAttacher& tracer) = 0;
};

struct SessionOptions {
  TargetSpec targets;
  TracerOptions tracer;
  uint64_t duration_ns = 0;  // 0: until stopped or targets exit
  uint64_t tick_ns = 0;      // 0: no ticks
  int poll_ms = 100;         // upper bound on event latency
  // Not owned; must outlive the session. With a source, the session runs
  // until stopped or --duration, whatever its targets do.
  TargetSource* source = nullptr;
  uint64_t rescan_ns = 2'000'000'000;
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

  // Runs fn(tracer) under the session's lock: the way for another thread
  // (an HTTP scrape) to read the tracer while Run() goes on. Never from a
  // Run() callback, which already runs under that lock.
  template <typename F>
  auto WithTracer(F&& fn) const {
    std::lock_guard lock(mu_);
    return fn(static_cast<const Tracer&>(*tracer_));
  }

  // Turns the tracer's per-call events on or off (Tracer::SetEventsEnabled);
  // from any thread, without the session's lock.
  void SetEventsEnabled(bool on) { tracer_->SetEventsEnabled(on); }

  // Launch mode: the command's exit status (128+signal if killed), or -1.
  int child_status() const { return child_status_; }
  // Launch mode: true when the session ended the command itself (a signal
  // to cgotrace, or --duration), so its status says nothing about it.
  bool child_stopped_by_session() const { return child_stopped_; }
  TracerStats Stats() const { return tracer_->Stats(); }
  size_t probe_count() const { return tracer_->probe_count(); }
  ProgramStats ProgramRunStats() const { return tracer_->ProgramRunStats(); }
  std::vector<BinaryStatus> Binaries() const { return tracer_->Binaries(); }
  std::vector<AggregateRow> Aggregates() const { return tracer_->Aggregates(); }
  std::optional<std::pair<std::string, uint32_t>> SourceLineAt(const std::string& path,
                                                               uint64_t pc) const {
    return tracer_->SourceLineAt(path, pc);
  }
  // Stats(), probe_count(), ProgramRunStats() and Binaries() are for the
  // session's own thread (and its callbacks); other threads use
  // WithTracer().
  // A short description of the attached targets, e.g. "PID 1234 (app)".
  const std::vector<std::string>& described_targets() const { return described_; }

  // Installs SIGINT/SIGTERM handlers that call RequestStop().
  static void InstallSignalHandlers();
  static void RequestStop();
  // Whether a stop was requested (signal or RequestStop), for run loops that
  // do not go through Run() (sampling: cgotrace top/profile).
  static bool StopRequested();

 private:
  Session();
  Result<void> Launch(const std::vector<std::string>& command);
  // Waits up to timeout_ms for events and delivers them.
  Result<int> Pump(int timeout_ms, const Tracer::EventCallback& on_event);
  // Follows -p targets that exec'ed another program; true when every
  // target is gone (never with a TargetSource or --binary).
  bool TargetsGone();
  bool ChildGone();  // reaps the launched command; true if none or exited

  SessionOptions options_;
  mutable std::mutex mu_;  // guards tracer_'s state against WithTracer()
  std::unique_ptr<Tracer> tracer_;
  std::unique_ptr<TargetWatch> watch_;
  pid_t child_ = -1;
  int child_status_ = -1;
  bool child_stopped_ = false;
  std::vector<std::string> described_;
};

}  // namespace cgotrace
