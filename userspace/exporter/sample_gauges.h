// The exporter's --sample mode: gauges of what is inside C right now, by C
// function, from sampling the Go runtime's state of every thread (the same
// task-iterator sampler as `cgotrace top`), with no per-call probe.
//
// Two parts:
//   - SampleGaugeTable: the published gauges of the last sampling round
//     (threads in C and the age of the oldest call, per binary and function)
//     and their metric families. Pure; Publish() and Collect() may run
//     concurrently on different threads (an internal mutex).
//   - SampleGauges: which processes to sample (-p, --binary, --all-go, as
//     the exact mode's ProcessDiscovery finds them, but without a Tracer),
//     one Sampler per process, and the rounds that feed the table. Start(),
//     Rescan() and Round() run on one thread (the sampling loop); Collect()
//     on HTTP threads.
//
// Ages: a call already in C when its process was first sampled began before
// cgotrace watched, so its age is a lower bound (time since that first
// sample); later calls are exact to within one sampling interval
// (sample/call_tracker.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <prometheus/metric_family.h>

#include "binary/go_binary.h"
#include "cgotrace/result.h"
#include "exporter/exporter.h"
#include "sample/call_tracker.h"
#include "sample/sampler.h"
#include "util/proc_fs.h"

namespace cgotrace {

// One thread inside a cgo call at one sampling round.
struct SampledCall {
  std::string binary;    // ExporterMetrics::BinaryLabel of the executable
  std::string function;  // the C function as written in Go ("sqlite3_step")
  uint64_t age_ns = 0;   // time in this call so far (a lower bound if it began before sampling)
};

class SampleGaugeTable {
 public:
  explicit SampleGaugeTable(size_t max_functions);

  // Replaces the gauges with one round: `calls` are every thread in C in
  // every sampled process. A (binary, function) seen in an earlier round and
  // absent now shows 0 threads and age 0 (a gauge that drops to 0, not a
  // series that vanishes at its last value). At most max_functions distinct
  // function names per binary; later ones count as function="other".
  void Publish(const std::vector<SampledCall>& calls, uint64_t processes_sampled);

  // cgotrace_threads_in_cgo_sampled, cgotrace_oldest_cgo_call_age_seconds,
  // cgotrace_processes_sampled.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  struct Gauge {
    uint64_t threads = 0;
    uint64_t oldest_ns = 0;
  };
  struct BinaryGauges {
    std::map<std::string, Gauge> functions;  // includes "other"
    std::set<std::string> admitted;
  };

  size_t max_functions_;
  mutable std::mutex mu_;
  std::map<std::string, BinaryGauges> binaries_;
  uint64_t processes_ = 0;
};

class SampleGauges {
 public:
  SampleGauges(const ExporterTargets& targets, size_t max_functions, bool verbose,
               const ProcFs& fs = RealProcFs());
  ~SampleGauges();
  SampleGauges(const SampleGauges&) = delete;
  SampleGauges& operator=(const SampleGauges&) = delete;

  // Opens a sampler for each -p PID (error if one cannot be sampled) and
  // checks each --binary file (error if it is not a Go binary with cgo that
  // can be sampled), then rescans. Nothing stays open on error.
  Result<void> Start();
  // Stops sampling processes that exited; samples new processes of --binary
  // files and, under --all-go, new Go processes with cgo.
  void Rescan();
  // Samples every process once and publishes the gauges.
  void Round();

  std::vector<prometheus::MetricFamily> Collect() const { return table_.Collect(); }
  size_t processes() const { return processes_.size(); }

 private:
  struct Process;
  struct BinaryTarget {
    std::string path;
    std::vector<FileId> ids;  // every file seen at the path; current last
  };

  // Opens a sampler for `pid` running `id`; the analysis of `id` is shared
  // by its processes.
  Result<void> Add(pid_t pid, const FileId& id);
  Result<std::shared_ptr<const GoBinary>> BinaryOf(pid_t pid, const FileId& id);
  bool OfBinaryTarget(const FileId& id) const;

  ExporterTargets targets_;
  bool verbose_;
  const ProcFs& fs_;
  SampleGaugeTable table_;
  std::vector<BinaryTarget> binaries_;
  std::map<pid_t, std::unique_ptr<Process>> processes_;
  std::map<FileId, std::weak_ptr<const GoBinary>> analysed_;
  std::set<FileId> rejected_;
  bool waiting_logged_ = false;
  pid_t self_ = 0;
};

}  // namespace cgotrace
