// Prometheus exporter: long-running cgo call metrics over HTTP.
//
// Three parts, one per source file:
//   - Pow2Histogram / ExporterMetrics (exporter_metrics.cpp): the kernel's
//     rows (Tracer::ExportRows, bucketed by the published bounds) per
//     (binary, function), and the Prometheus metric families built from
//     them at scrape time.
//   - ProcessDiscovery (exporter_discovery.cpp): which processes to attach to
//     and detach from as they come and go (-p, --binary, --all-go).
//   - Exporter (exporter.cpp): runs a Session (the one run loop of cgotrace,
//     with discovery as its TargetSource) and the HTTP endpoint
//     (prometheus-cpp's civetweb Exposer) until SIGINT/SIGTERM.
//
// Labels never carry pid, tid or goid: series are keyed by the binary's short
// name and the C (or exported Go) function, with at most max_functions
// distinct functions per binary; later ones are counted as function="other".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "cgotrace/counters.h"
#include "cgotrace/event.h"
#include "cgotrace/result.h"
#include "cgotrace/session.h"
#include "cgotrace/tracer.h"
#include "cgotrace_abi.h"
#include "process/process.h"
#include "process/target_watch.h"
#include "util/proc_fs.h"

namespace cgotrace {

// Default TCP port of `cgotrace exporter` (docs/exporter.md).
inline constexpr int kExporterDefaultPort = 9478;
// Default sampling rate of `exporter --sample` (-F): a prime, so rounds do
// not beat with periodic work in the target.
inline constexpr int kExporterSampleHz = 19;

// Histogram over non-negative integers with inclusive upper bounds
// base * 2^k (k = 0 .. buckets-1) plus +Inf, i.e. Prometheus `le` semantics:
// a value v is in bucket k iff v <= base * 2^k (cgt_pow2_bucket of
// bpf/cgotrace_abi.h, integer arithmetic, so values exactly on a bound land
// in that bound's bucket). Plain value type; no thread safety of its own.
class Pow2Histogram {
 public:
  Pow2Histogram(uint64_t base, int buckets);

  // Adds counts bucketed with the same bounds (the kernel's export_rows):
  // counts[k] for k <= buckets(), the last one +Inf.
  void Add(const std::vector<uint64_t>& counts, uint64_t count, uint64_t sum);

  uint64_t base() const { return base_; }
  int buckets() const { return static_cast<int>(counts_.size()) - 1; }
  // Inclusive upper bound of bucket k, in the histogram's integer unit.
  uint64_t UpperBound(int k) const { return base_ << k; }
  // Non-cumulative count of bucket k; k == buckets() is the +Inf overflow.
  uint64_t BucketCount(int k) const { return counts_[static_cast<size_t>(k)]; }
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }  // saturates at UINT64_MAX

 private:
  uint64_t base_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
};

// Call durations: 100 ns * 2^k, 28 bounds from 0.1 µs to 13.4 s.
// Goroutine stack in use at a call: 128 B * 2^k, 24 bounds up to 1 GiB (Go's
// maximum goroutine stack on 64-bit). The kernel's export_rows use the same
// bounds (bpf/cgotrace_abi.h), so its counts are these buckets.
inline constexpr uint64_t kDurationBaseNs = CGT_XP_DURATION_BASE;
inline constexpr int kDurationBuckets = CGT_XP_DURATION_BOUNDS;
inline constexpr uint64_t kStackBaseBytes = CGT_XP_STACK_BASE;
inline constexpr int kStackBuckets = CGT_XP_STACK_BOUNDS;

// Exporter self-observation, read from the Tracer at scrape time.
struct ExporterSelfStats {
  uint64_t processes_traced = 0;
  uint64_t probes_attached = 0;
  // The tracer's run counters (cgotrace/counters.h), each one metric.
  CGOTRACE_RUN_COUNTERS(CGOTRACE_COUNTER_FIELD)
  // Calls that will never return, by cause (TracerStats), and callbacks.
  uint64_t unreturned_exit = 0;
  uint64_t unreturned_panic = 0;
  uint64_t unreturned_evicted = 0;
  uint64_t callbacks_unreturned = 0;
  uint64_t bpf_run_time_ns = 0;
  uint64_t bpf_run_count = 0;
  // Per-call events written to the ring buffer, and calls counted in the
  // kernel's rows / not counted there (map full).
  uint64_t events = 0;
  uint64_t aggregated = 0;
  uint64_t agg_full = 0;
  std::vector<BinaryStatus> binaries;  // for threads_in_cgo
};

// Holds the exporter's series, from the kernel's rows, and renders them as
// Prometheus metric families.
//
// Thread safety: SetKernelRows() and Collect() may be called concurrently
// from any threads (an internal mutex serializes them); both run on HTTP
// server threads, at scrape time.
class ExporterMetrics {
 public:
  explicit ExporterMetrics(size_t max_functions);

  // Replaces every series with the tracer's cumulative kernel rows
  // (TracerOptions::export_rows), read at scrape time. Names are admitted
  // to the max_functions cap per binary in the order first seen, and stay
  // admitted (or "other") for the exporter's lifetime.
  void SetKernelRows(const std::vector<ExportRow>& rows);
  std::vector<prometheus::MetricFamily> Collect(const ExporterSelfStats& self) const;

  // The label value for a binary: the executable's base name, without the
  // " (deleted)" the kernel appends to replaced executables.
  static std::string BinaryLabel(const std::string& comm);

 private:
  struct FunctionSeries {
    Pow2Histogram duration{kDurationBaseNs, kDurationBuckets};
    // --breakdown: time re-entering Go after C (ExportRow::Kind::kReentry).
    Pow2Histogram reentry{kDurationBaseNs, kDurationBuckets};
    uint64_t callbacks = 0;
    bool has_calls = false;
  };
  struct BinarySeries {
    std::map<std::string, FunctionSeries> functions;  // includes "other"
    std::set<std::string> admitted;                   // distinct real names
    Pow2Histogram stack{kStackBaseBytes, kStackBuckets};
  };
  // The series name of `func` in `bin`: itself, or "other" past the cap.
  const std::string& Admit(BinarySeries& bin, const std::string& func) const;

  size_t max_functions_;
  mutable std::mutex mu_;
  std::map<std::string, BinarySeries> binaries_;  // by BinaryLabel
};

// The Prometheus text exposition (format 0.0.4) of `families`.
std::string RenderExpositionText(const std::vector<prometheus::MetricFamily>& families);

// A validated --listen value.
struct ListenAddress {
  std::string host;  // "" for every IPv4 interface; IPv6 without brackets
  int port = 0;      // 0: the kernel picks a free port
  bool ipv6 = false;
  // The same address as civetweb's listening_ports option expects.
  std::string CivetSpec() const;
  // "HOST:PORT" for messages ("[::1]:9478" for IPv6, "0.0.0.0:9478").
  std::string Display() const;
};

// Accepts "HOST:PORT", ":PORT", "PORT" and "[V6]:PORT"; HOST is an IP
// literal or "localhost". Errors name the text and what is wrong with it.
Result<ListenAddress> ParseListenAddress(const std::string& text);

// Which processes the exporter traces.
struct ExporterTargets {
  std::vector<pid_t> pids;            // -p: these processes, until they exit
  std::vector<std::string> binaries;  // --binary: every process of each file
  bool all_go = false;                // --all-go: every Go process with cgo
};

// Keeps the Tracer's attachments in line with the processes on the host:
// the exporter's TargetSource. Reads /proc only through the ProcFs it is
// given. Not thread-safe: the Session calls it on its thread with its lock
// held. Messages go to stderr as "cgotrace: ...".
// True for the refusals every host is full of (not a Go program, built
// without cgo, not ELF, another architecture): discovery, exact and sampled
// alike, stays quiet about those and logs anything else once.
bool ExpectedRejection(const std::string& message);

class ProcessDiscovery : public TargetSource {
 public:
  explicit ProcessDiscovery(const ExporterTargets& targets, const ProcFs& fs = RealProcFs());

  // Initial attachment: -p PIDs (error if one cannot be traced) and --binary
  // files (error if one is not a traceable Go binary), then a first scan.
  Result<void> Start(TargetAttacher& tracer) override;
  // Detaches exited PIDs (PID + start time: a reused PID is another
  // process) and follows traced PIDs that executed another program (or says
  // they were lost); under --all-go attaches new Go processes with cgo;
  // follows a --binary path to the new file after a redeploy by rename;
  // recounts processes of --binary files.
  void Rescan(TargetAttacher& tracer) override;

  uint64_t processes_traced() const { return processes_traced_; }

 private:
  // One --binary argument: the path is what the user asked for, followed
  // across redeploys; every file seen under it stays attached while
  // processes may still run it.
  struct BinaryTarget {
    std::string path;         // canonical, as attached
    std::vector<FileId> ids;  // current file last
    size_t count = SIZE_MAX;  // processes last counted; MAX forces a message
  };

  void FollowProcesses(TargetAttacher& tracer);
  void FollowRedeploys(TargetAttacher& tracer);
  void DetachReplacedFiles(TargetAttacher& tracer, const std::map<pid_t, FileId>& exes);
  void AttachNewGoProcesses(TargetAttacher& tracer, const std::map<pid_t, FileId>& exes);
  void CountBinaryProcesses(const std::map<pid_t, FileId>& exes);
  bool OfBinaryTarget(const FileId& id) const;

  ExporterTargets targets_;
  const ProcFs& fs_;
  TargetWatch attached_;  // processes attached by PID (-p, --all-go)
  std::vector<BinaryTarget> binaries_;
  // Executables found not traceable (not Go, no cgo, unsupported), each
  // analysed once.
  std::set<FileId> rejected_;
  uint64_t processes_traced_ = 0;
  bool waiting_logged_ = false;
  pid_t self_ = 0;
};

struct ExporterOptions {
  ListenAddress listen;
  ExporterTargets targets;
  TracerOptions tracer;
  uint64_t rescan_ns = 2'000'000'000;
  uint64_t duration_ns = 0;  // 0: until SIGINT/SIGTERM
  size_t max_functions = 200;
  // Drop every capability not needed after the initial attach (see
  // docs/exporter.md); off only for debugging.
  bool drop_capabilities = true;
  // Tool version in /debug/pprof/cgo profiles (exporter_pprof.h).
  std::string tool_version;
  // Exact mode: uprobes on every cgo call (the call histograms, callbacks,
  // threads_in_cgo, /debug/pprof/cgo).
  bool exact = true;
  // --sample: in-C gauges by function from sampling every thread at
  // sample_hz (exporter/sample_gauges.h), no per-call probe. Alone (exact
  // false) nothing is probed at all.
  bool sample = false;
  int sample_hz = kExporterSampleHz;
};

// The running exporter: a Session whose targets come from ProcessDiscovery
// (exact mode), the sampling loop (--sample), or both, and an HTTP endpoint.
// Start() attaches and starts serving; Run() runs the session's loop and/or
// the sampling loop until Session::RequestStop() (SIGINT/SIGTERM through
// Session::InstallSignalHandlers()). Destruction stops the HTTP server, then
// detaches every probe and sampler.
//
// Thread safety: one thread calls Start() and Run(); with both modes Run()
// samples on a second thread of its own. HTTP scrapes run on civetweb
// threads and read the tracer through Session::WithTracer(), the sampled
// gauges through their own lock.
class Exporter {
 public:
  static Result<std::unique_ptr<Exporter>> Start(const ExporterOptions& options);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  Result<void> Run();
  // The bound address with the actual port (useful with port 0).
  const ListenAddress& listening() const { return listening_; }

 private:
  struct Impl;
  explicit Exporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  ListenAddress listening_;
};

// Capabilities the exporter keeps after its initial attach, by target kind;
// the rest are dropped from the effective, permitted, inheritable, ambient
// and (when allowed) bounding sets of the calling thread, which must be the
// only thread. Returns a one-line summary ("kept: cap_bpf,...").
Result<std::string> DropCapabilitiesExcept(const std::vector<int>& keep);

}  // namespace cgotrace
