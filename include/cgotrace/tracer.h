// Tracer: the BPF side of cgotrace, owned by one object.
//
// Lifecycle: Tracer::Create() opens and loads the BPF object (open ->
// configure -> load); AddProcess()/AddBinary() analyze a Go binary and attach
// uprobes at its probe sites; Poll() drains the ring buffer into the
// callback; destruction detaches every probe (each attachment is an RAII
// link) and frees the maps. The traced programs are never stopped or
// modified beyond the kernel's uprobe breakpoints, which vanish on detach.
//
// Thread safety: not thread-safe; one thread drives a Tracer. Callbacks run on
// the thread that calls Poll().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgotrace/counters.h"
#include "cgotrace/event.h"
#include "cgotrace/result.h"

namespace cgotrace {

struct FileId;

struct TracerOptions {
  uint32_t ringbuf_bytes = 16u << 20;  // power of two
  uint64_t wakeup_bytes = 64u << 10;   // batch ring-buffer wakeups (a power of two: rounded down)
  bool report_in_own_pidns = true;     // translate PIDs into our namespace
  bool verbose = false;                // libbpf debug output to stderr
  // Benchmark only: attach a program that does nothing at every site, to
  // measure the kernel's uprobe cost alone. No events are produced.
  bool empty_probes = false;
  // Benchmark only: use the entry / RET fallback sites for every event
  // instead of the planned (cheapest) ones, to measure the naive floor.
  bool entry_ret_sites = false;
  // Capture each call's Go call stack (CgoEvent::stack).
  bool call_stacks = false;
  // What the end of a call produces: an event in the ring buffer (Poll),
  // and/or a count in the kernel's aggregation map (Aggregates). Without
  // events, starts read no goroutine memory (no goid, no stack depth).
  bool events = true;
  bool aggregate = false;
  // The exporter's rows (Tracer::ExportRows): each call counted in the
  // kernel in the exporter's own histogram buckets, and the goroutine stack
  // depth per binary; the start reads one word of runtime.g (the depth).
  bool export_rows = false;
  // With `events`: whether they flow from the start. Off, starts read no
  // goid and ends write nothing until Tracer::SetEventsEnabled(true).
  bool events_enabled = true;
  // Latency breakdown (CgoEvent::sched_ns): end each call after
  // runtime.exitsyscall returns. Costs a single-stepped probe per call
  // (docs/performance.md); x86-64 planned sites only.
  bool breakdown = false;
};

// Calls of one (binary, kind, function) counted in the kernel
// (TracerOptions::aggregate). Durations in ns; `buckets` are the kernel's
// log-linear histogram (CGT_HIST_BUCKETS counts, index
// cgt_hist_bucket_bounded(duration) of bpf/cgotrace_abi.h).
struct AggregateRow {
  EventKind kind = EventKind::kCall;
  std::string func;  // named as CgoEvent::func
  std::string comm;  // as CgoEvent::comm
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  uint64_t min_ns = 0;
  uint64_t max_ns = 0;
  std::vector<uint64_t> buckets;
  // The latency breakdown (TracerOptions::breakdown) of the `split_count`
  // calls where it was measured: sums of CgoEvent::c_ns and sched_ns, and
  // the largest sched_ns.
  uint64_t split_count = 0;
  uint64_t c_sum_ns = 0;
  uint64_t sched_sum_ns = 0;
  uint64_t sched_max_ns = 0;
};

// The exporter's kernel rows (TracerOptions::export_rows): cumulative, of
// one (binary, kind, function), or the stack depth of one binary's calls.
// `buckets` has CGT_XP_BUCKETS counts, index cgt_pow2_bucket(value, base,
// bounds) of bpf/cgotrace_abi.h with the base and bounds of the kind
// (CGT_XP_DURATION_* for calls, callbacks and re-entries, CGT_XP_STACK_* for
// depth). kReentry: the CgoEvent::sched_ns of one function's calls
// (TracerOptions::breakdown), only where some were measured.
struct ExportRow {
  enum class Kind { kCall, kCallback, kStackDepth, kReentry };
  Kind kind = Kind::kCall;
  std::string func;  // named as CgoEvent::func; "" for kStackDepth
  std::string comm;  // as CgoEvent::comm
  uint64_t count = 0;
  uint64_t sum = 0;  // ns, or bytes for kStackDepth
  std::vector<uint64_t> buckets;
};

struct TracerStats {
  uint64_t events = 0;      // written by BPF
  uint64_t aggregated = 0;  // counted in the kernel's aggregation map
  uint64_t entries = 0;     // entry probe hits
  // lost, no_entry, read_fail, stack_fail, unreturned, inflight_overflow
  // (cgotrace/counters.h)
  CGOTRACE_RUN_COUNTERS(CGOTRACE_COUNTER_FIELD)
  // agg_full (cgotrace/counters.h)
  CGOTRACE_LIVE_COUNTERS(CGOTRACE_COUNTER_FIELD)
  // `unreturned` by cause: calls whose thread exited while in C (SIGKILL,
  // exit with goroutines in C), calls abandoned by a Go panic unwinding
  // through C (found at the next start or end on their thread), calls whose
  // frame was overwritten by deeper nesting; calls still in C when read.
  // Each was removed from threads_in_cgo when found.
  uint64_t unreturned_exit = 0;
  uint64_t unreturned_panic = 0;
  uint64_t unreturned_evicted = 0;
  uint64_t unreturned_in_c = 0;
  // Callbacks whose end will never run, for any of those causes.
  uint64_t callbacks_unreturned = 0;
};

// One traced executable, for the exporter's per-binary gauges and the
// recording's process table (what the tracer's analysis already found).
struct BinaryStatus {
  std::string path;
  std::string comm;
  int64_t threads_in_cgo = 0;  // calls inside runtime.cgocall right now
  size_t probes = 0;           // attached uprobes for this binary
  std::string build_id;        // ELF build id, hex; "" if none
  std::string go_version;      // from the Go buildinfo, e.g. "go1.26.8"
};

// Cumulative run time of the BPF programs; zero unless the kernel's
// kernel.bpf_stats_enabled sysctl is 1.
struct ProgramStats {
  uint64_t run_time_ns = 0;
  uint64_t run_count = 0;
};

// What was attached for one target, for messages and `inspect`.
struct AttachReport {
  std::string path;
  pid_t pid = -1;  // -1: every process running the binary
  size_t probes = 0;
};

// What a TargetSource (session.h) attaches and detaches through: the Tracer
// in a run, a fake in unit tests of target discovery.
class TargetAttacher {
 public:
  virtual ~TargetAttacher() = default;
  // Traces the running process `pid` (its /proc/PID/exe), only that process.
  virtual Result<AttachReport> AddProcess(pid_t pid) = 0;
  // Traces `path` in process `pid` (-1: all processes running it, including
  // ones started later).
  virtual Result<AttachReport> AddBinary(const std::string& path, pid_t pid) = 0;
  // Detaches every probe attached for `pid`. No-op for unknown PIDs.
  virtual void RemoveProcess(pid_t pid) = 0;
  // Detaches the whole-binary attachment of file `id`; the probes removed.
  virtual size_t RemoveFile(const FileId& id) = 0;
};

class Tracer final : public TargetAttacher {
 public:
  using EventCallback = std::function<void(const CgoEvent&)>;

  // Errors: no privilege (names the missing capability), BPF unsupported.
  static Result<std::unique_ptr<Tracer>> Create(const TracerOptions& options);
  ~Tracer() override;
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Traces the running process `pid` (its /proc/PID/exe), only that process.
  Result<AttachReport> AddProcess(pid_t pid) override;
  // Traces `path` in process `pid` (-1: all processes running it, including
  // ones started later). Used by launch mode with the child's PID before it
  // execs `path`.
  Result<AttachReport> AddBinary(const std::string& path, pid_t pid) override;

  // Detaches every probe attached for `pid` (a process that exited, or one
  // the caller stops tracing). No-op for unknown PIDs.
  void RemoveProcess(pid_t pid) override;
  // Detaches the whole-binary attachment (pid -1) of the file `id` (e.g.
  // one a redeploy replaced, once no process runs it any more) and frees
  // what was kept for it. Returns the number of probes removed (0 if the
  // file had no such attachment).
  size_t RemoveFile(const FileId& id) override;
  // PIDs with probes of their own (not whole-binary attachments).
  std::vector<pid_t> AttachedPids() const;
  std::vector<BinaryStatus> Binaries() const;
  // Source file and line of link-time `pc` in the traced binary at `path`
  // (as BinaryStatus::path names it), from the pclntab analysed at attach;
  // nullopt when unknown or the binary is no longer traced.
  std::optional<std::pair<std::string, uint32_t>> SourceLineAt(const std::string& path,
                                                               uint64_t pc) const;
  ProgramStats ProgramRunStats() const;

  // Waits up to timeout_ms for data, then delivers every event available.
  // Returns the number of events delivered, or an Error on ring-buffer
  // failure. EINTR is not an error.
  Result<int> Poll(int timeout_ms, const EventCallback& callback);

  TracerStats Stats() const;
  size_t probe_count() const;

  // Every call counted in the kernel so far (TracerOptions::aggregate), one
  // row per (binary, kind, fn, caller) key, including binaries already
  // released (their rows are kept when their processes are gone). Empty
  // without aggregation.
  std::vector<AggregateRow> Aggregates() const;
  // Every call counted for the exporter so far (TracerOptions::export_rows):
  // rows of binaries traced now, and of released ones summed by (comm, kind,
  // function), so what is kept grows with distinct names, not with
  // processes. Empty without export_rows.
  std::vector<ExportRow> ExportRows() const;

  // Turns per-call events on or off (TracerOptions::events_enabled) while
  // the probes stay attached. Unlike the rest of the Tracer, safe to call
  // from any thread at any time: one store the BPF programs read at each hit.
  void SetEventsEnabled(bool on);

 private:
  struct Impl;
  explicit Tracer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cgotrace
